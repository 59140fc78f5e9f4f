-- Summary reports. A report reads rollups kept as feedback is accepted (in the statement
-- that stores the feedback), never the feedback itself: per source x UTC hour x kind x
-- currency. A whole day in any zone whose offsets are whole hours is the sum of its 23, 24
-- or 25 UTC hours, so daylight-saving days need no special case. The hour is that of the
-- feedback's feedback_time (when the outcome happened; the accept time when not given).
CREATE TABLE feedback_hourly (
    source_id       text NOT NULL,
    hour            timestamptz NOT NULL,
    kind            text NOT NULL,
    -- '' for feedback without a value.
    currency        text NOT NULL,
    feedback_count  bigint NOT NULL,
    value_count     bigint NOT NULL,
    value_sum       numeric NOT NULL,
    PRIMARY KEY (source_id, hour, kind, currency)
);
-- Network figures (every source in a period) read by hour.
CREATE INDEX feedback_hourly_by_hour ON feedback_hourly (hour);

-- Quality scores: dimension '' is the overall score.
CREATE TABLE feedback_hourly_scores (
    source_id    text NOT NULL,
    hour         timestamptz NOT NULL,
    dimension    text NOT NULL,
    score_count  bigint NOT NULL,
    score_sum    double precision NOT NULL,
    PRIMARY KEY (source_id, hour, dimension)
);
CREATE INDEX feedback_hourly_scores_by_hour ON feedback_hourly_scores (hour);

-- Returns by reason (the reason code, or the reason text when no code was given).
CREATE TABLE feedback_hourly_reasons (
    source_id     text NOT NULL,
    hour          timestamptz NOT NULL,
    reason        text NOT NULL,
    return_count  bigint NOT NULL,
    PRIMARY KEY (source_id, hour, reason)
);
CREATE INDEX feedback_hourly_reasons_by_hour ON feedback_hourly_reasons (hour);

-- A report definition; its schedule is claimed like a batch schedule (SKIP LOCKED and a
-- lease), so one replica runs each occurrence.
CREATE TABLE reports (
    id               text PRIMARY KEY,
    recipient_id     text NOT NULL REFERENCES recipients (id),
    -- title, source_ids, sections, format, cron, time_zone, k (see backchannel.report).
    definition       jsonb NOT NULL,
    next_run_at      timestamptz NOT NULL,
    lease_until      timestamptz,
    lease_token      uuid,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    delete_time      timestamptz
);
CREATE INDEX reports_due ON reports (next_run_at) WHERE delete_time IS NULL;

-- One row per report and period: rendered once (every attempt sends the same bytes) and
-- never made twice for the same period.
CREATE TABLE report_runs (
    id                 text PRIMARY KEY,
    report_id          text NOT NULL REFERENCES reports (id),
    recipient_id       text NOT NULL REFERENCES recipients (id),
    period_start       timestamptz NOT NULL,
    period_end         timestamptz NOT NULL,
    state              text NOT NULL CHECK (state IN ('pending', 'in_flight', 'succeeded',
                           'failed', 'dead')),
    attempt_count      integer NOT NULL DEFAULT 0,
    next_attempt_time  timestamptz NOT NULL,
    lease_until        timestamptz,
    lease_token        uuid,
    requested_by       text NOT NULL DEFAULT '',
    file_name          text NOT NULL,
    content_type       text NOT NULL,
    content            bytea NOT NULL,
    -- The plain-text alternative of an HTML report (sent beside it by email).
    text_alternative   text NOT NULL DEFAULT '',
    sha256             text NOT NULL,
    feedback_count     bigint NOT NULL,
    reason             text NOT NULL DEFAULT '',
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    UNIQUE (report_id, period_start)
);
CREATE INDEX report_runs_due ON report_runs (next_attempt_time) WHERE state = 'pending';
CREATE INDEX report_runs_leased ON report_runs (lease_until) WHERE state = 'in_flight';
CREATE INDEX report_runs_by_report ON report_runs (report_id, period_start DESC);

-- Summary report transmissions on the event log.
ALTER TABLE feedback_events
    ADD COLUMN report_id text NOT NULL DEFAULT '',
    ADD COLUMN period_start timestamptz,
    ADD COLUMN period_end timestamptz;
