-- Recipients: who hears feedback and how to reach them. Deleted recipients are kept
-- (delete_time set) so their deliveries and events keep pointing at something.
CREATE TABLE recipients (
    id                     text PRIMARY KEY,
    display_name           text NOT NULL DEFAULT '',
    recipient_type         text NOT NULL,
    transport              text NOT NULL,
    transport_settings     jsonb NOT NULL DEFAULT '{}',
    secret_settings        jsonb NOT NULL DEFAULT '{}',
    format                 text NOT NULL,
    format_options         jsonb NOT NULL DEFAULT '{}',
    subscribed_kinds       text[] NOT NULL DEFAULT '{}',
    subscribed_source_ids  text[] NOT NULL DEFAULT '{}',
    state                  text NOT NULL CHECK (state IN ('active', 'paused', 'disabled')),
    revision               bigint NOT NULL DEFAULT 1,
    create_time            timestamptz NOT NULL DEFAULT now(),
    update_time            timestamptz NOT NULL DEFAULT now(),
    delete_time            timestamptz
);
CREATE INDEX recipients_live ON recipients (id) WHERE delete_time IS NULL;

-- Accepted feedback. `record` is the serialized backchannel.v1.Feedback; `response` the
-- serialized SendFeedbackResponse returned to the first request, replayed on repeats.
CREATE TABLE feedback (
    id              text PRIMARY KEY,
    request_id      text NOT NULL UNIQUE,
    request_digest  bytea NOT NULL,
    kind            text NOT NULL,
    lead_id         text NOT NULL,
    source_id       text NOT NULL,
    record          bytea NOT NULL,
    response        bytea NOT NULL,
    traceparent     text,
    accept_time     timestamptz NOT NULL
);
CREATE INDEX feedback_by_lead ON feedback (lead_id);
CREATE INDEX feedback_by_accept_time ON feedback (accept_time);

-- The outbox: one row per feedback x recipient. Claimed with SKIP LOCKED and a lease;
-- lease_token fences a worker whose lease expired from overwriting a newer claim.
CREATE TABLE deliveries (
    id                 text PRIMARY KEY,
    feedback_id        text NOT NULL REFERENCES feedback (id),
    recipient_id       text NOT NULL REFERENCES recipients (id),
    state              text NOT NULL CHECK (state IN ('pending', 'held', 'in_flight', 'succeeded', 'failed', 'dead', 'cancelled')),
    attempt_count      integer NOT NULL DEFAULT 0,
    next_attempt_time  timestamptz NOT NULL,
    lease_until        timestamptz,
    lease_token        uuid,
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    UNIQUE (feedback_id, recipient_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_time) WHERE state = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE state = 'in_flight';
CREATE INDEX deliveries_open_by_recipient ON deliveries (recipient_id)
    WHERE state IN ('pending', 'held', 'in_flight');

-- Feedback-sent events: one row per transmission attempt. Readers order by (xid, seq) and
-- only read rows whose writing transaction is older than every running one
-- (xid < pg_snapshot_xmin), so a row that commits late can never be skipped by a cursor.
CREATE TABLE feedback_events (
    xid                  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq                  bigint GENERATED ALWAYS AS IDENTITY,
    id                   text NOT NULL UNIQUE,
    feedback_id          text NOT NULL,
    delivery_id          text NOT NULL,
    attempt              integer NOT NULL,
    recipient_id         text NOT NULL,
    recipient_type       text NOT NULL,
    transport            text NOT NULL,
    format_name          text NOT NULL,
    content_type         text NOT NULL,
    aggregation_level    text NOT NULL,
    processing_status    text NOT NULL,
    response_code        integer NOT NULL,
    response_excerpt     text NOT NULL,
    remote_id            text NOT NULL,
    start_time           timestamptz NOT NULL,
    end_time             timestamptz NOT NULL,
    latency_us           bigint NOT NULL,
    content_size         bigint NOT NULL,
    content_sha256       text NOT NULL,
    trace_id             text NOT NULL,
    span_id              text NOT NULL,
    plugin_distribution  text NOT NULL,
    plugin_version       text NOT NULL,
    server_version       text NOT NULL,
    worker_id            text NOT NULL,
    next_attempt_time    timestamptz,
    lead_id              text NOT NULL,
    source_id            text NOT NULL,
    PRIMARY KEY (xid, seq)
);
CREATE INDEX feedback_events_by_delivery ON feedback_events (delivery_id, attempt);
CREATE INDEX feedback_events_by_feedback ON feedback_events (feedback_id);
CREATE INDEX feedback_events_by_recipient ON feedback_events (recipient_id, xid, seq);
CREATE INDEX feedback_events_by_lead ON feedback_events (lead_id, xid, seq);
CREATE INDEX feedback_events_by_source ON feedback_events (source_id, xid, seq);
CREATE INDEX feedback_events_by_start_time ON feedback_events (start_time);

-- The newest event position removed by retention; a cursor at or before it is too old.
CREATE TABLE event_retention (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_xid   xid8 NOT NULL,
    pruned_seq   bigint NOT NULL
);
