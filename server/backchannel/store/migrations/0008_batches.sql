-- Batch delivery: a recipient may take feedback as scheduled batch files instead of one
-- transmission per feedback. Its deliveries wait as 'awaiting_batch' (never claimed by the
-- individual lanes, whose partial indexes only hold 'pending'), become 'in_batch' when a
-- batch takes them (batch_id set, in the same transaction that creates the batch), and
-- end with their batch.
ALTER TABLE recipients ADD COLUMN batch jsonb;

ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN (
    'pending', 'held', 'in_flight', 'succeeded', 'failed', 'dead', 'cancelled',
    'awaiting_batch', 'in_batch'));
ALTER TABLE deliveries ADD COLUMN batch_id text;
CREATE INDEX deliveries_awaiting_batch ON deliveries (recipient_id, create_time, id)
    WHERE state = 'awaiting_batch';
CREATE INDEX deliveries_by_batch ON deliveries (batch_id, create_time, id)
    WHERE batch_id IS NOT NULL;

-- One row per batch recipient: when its next scheduled run is due. Replicas claim due
-- rows with SKIP LOCKED and a lease, so one of them runs each occurrence.
CREATE TABLE batch_schedules (
    recipient_id     text PRIMARY KEY REFERENCES recipients (id),
    next_run_at      timestamptz NOT NULL,
    last_period_end  timestamptz,
    lease_until      timestamptz,
    lease_token      uuid
);
CREATE INDEX batch_schedules_due ON batch_schedules (next_run_at);

-- One row per batch file: an outbox row of its own. Its members are the deliveries with
-- its batch_id; its bytes are kept in Postgres large objects (the spool) until it is
-- finished, so every attempt sends the same bytes, from any replica.
CREATE TABLE batches (
    id                 text PRIMARY KEY,
    recipient_id       text NOT NULL REFERENCES recipients (id),
    sequence           bigint NOT NULL,
    period_start       timestamptz,
    period_end         timestamptz NOT NULL,
    run_time           timestamptz NOT NULL,
    state              text NOT NULL CHECK (state IN ('building', 'pending', 'in_flight',
                           'succeeded', 'failed', 'dead', 'held', 'cancelled')),
    attempt_count      integer NOT NULL DEFAULT 0,
    next_attempt_time  timestamptz NOT NULL,
    lease_until        timestamptz,
    lease_token        uuid,
    requested_by       text NOT NULL DEFAULT '',
    policy_attempt_offset integer NOT NULL DEFAULT 0,
    policy_start_time  timestamptz NOT NULL,
    file_name          text NOT NULL DEFAULT '',
    content_type       text NOT NULL DEFAULT '',
    size               bigint NOT NULL DEFAULT 0,
    sha256             text NOT NULL DEFAULT '',
    row_count          bigint NOT NULL DEFAULT 0,
    excluded_count     bigint NOT NULL DEFAULT 0,
    excluded           jsonb NOT NULL DEFAULT '[]',
    reason             text NOT NULL DEFAULT '',
    compression        text NOT NULL DEFAULT 'none',
    encryption         text NOT NULL DEFAULT 'none',
    format_name        text NOT NULL DEFAULT '',
    -- The spool: large objects holding the file and its companions (manifest, marker).
    spool_oid          oid,
    manifest_oid       oid,
    manifest_name      text NOT NULL DEFAULT '',
    done_name          text NOT NULL DEFAULT '',
    -- Whether every member has its final event (written in chunks after the batch ends).
    members_settled    boolean NOT NULL DEFAULT true,
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    UNIQUE (recipient_id, sequence)
);
CREATE INDEX batches_building ON batches (lease_until) WHERE state = 'building';
CREATE INDEX batches_due ON batches (next_attempt_time) WHERE state = 'pending';
CREATE INDEX batches_leased ON batches (lease_until) WHERE state = 'in_flight';
CREATE INDEX batches_unsettled ON batches (update_time) WHERE NOT members_settled;
CREATE INDEX batches_by_recipient ON batches (recipient_id, sequence DESC);

-- Batch transmissions on the event log.
ALTER TABLE feedback_events
    ADD COLUMN batch_id text NOT NULL DEFAULT '',
    ADD COLUMN item_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN excluded_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN file_name text NOT NULL DEFAULT '',
    ADD COLUMN compression text NOT NULL DEFAULT '',
    ADD COLUMN encryption text NOT NULL DEFAULT '';
CREATE INDEX feedback_events_by_batch ON feedback_events (batch_id, xid, seq) WHERE batch_id <> '';
