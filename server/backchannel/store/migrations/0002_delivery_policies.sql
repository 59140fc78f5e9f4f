-- Per-recipient retry policy, limits and ordering; recipient health (circuit breaker,
-- failure tracking, token bucket) shared by every replica; operator actions and events.
ALTER TABLE recipients
    ADD COLUMN retry_delays_seconds double precision[],
    ADD COLUMN max_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN max_age_seconds double precision,
    ADD COLUMN max_per_second double precision NOT NULL DEFAULT 0,
    ADD COLUMN burst integer NOT NULL DEFAULT 0,
    ADD COLUMN max_concurrency integer NOT NULL DEFAULT 0,
    ADD COLUMN ordered_delivery boolean NOT NULL DEFAULT false,
    ADD COLUMN disabled_reason text NOT NULL DEFAULT '';

-- One row per recipient that has had an attempt or has limits. For a limited recipient
-- the row is also the lock that serialises claims across replicas.
CREATE TABLE recipient_health (
    recipient_id          text PRIMARY KEY REFERENCES recipients (id),
    consecutive_failures  integer NOT NULL DEFAULT 0,
    failing_since         timestamptz,
    last_success_time     timestamptz,
    circuit_state         text NOT NULL DEFAULT 'closed'
                          CHECK (circuit_state IN ('closed', 'open', 'half_open')),
    open_until            timestamptz,
    open_count            integer NOT NULL DEFAULT 0,
    window_start          timestamptz NOT NULL DEFAULT now(),
    window_attempts       integer NOT NULL DEFAULT 0,
    window_failures       integer NOT NULL DEFAULT 0,
    tokens                double precision NOT NULL DEFAULT 0,
    tokens_time           timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE deliveries
    ADD COLUMN lead_id text NOT NULL DEFAULT '',
    ADD COLUMN requested_by text NOT NULL DEFAULT '',
    -- The retry policy counts attempts and age from here; an operator retry restarts it.
    ADD COLUMN policy_attempt_offset integer NOT NULL DEFAULT 0,
    ADD COLUMN policy_start_time timestamptz;
UPDATE deliveries d SET lead_id = f.lead_id FROM feedback f WHERE f.id = d.feedback_id;
UPDATE deliveries SET policy_start_time = create_time;
ALTER TABLE deliveries ALTER COLUMN policy_start_time SET NOT NULL;

-- Two lanes, so a storm of retries never starves first attempts.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_first_due ON deliveries (next_attempt_time)
    WHERE state = 'pending' AND attempt_count = 0;
CREATE INDEX deliveries_retry_due ON deliveries (next_attempt_time)
    WHERE state = 'pending' AND attempt_count > 0;
CREATE INDEX deliveries_open_by_lead ON deliveries (recipient_id, lead_id, create_time, id)
    WHERE state IN ('pending', 'held', 'in_flight');
CREATE INDEX deliveries_finished_badly ON deliveries (recipient_id, create_time)
    WHERE state IN ('failed', 'dead');

-- Operator events share the ordered log with feedback-sent events.
ALTER TABLE feedback_events
    ADD COLUMN category text NOT NULL DEFAULT 'transmission',
    ADD COLUMN message text NOT NULL DEFAULT '',
    ADD COLUMN requested_by text NOT NULL DEFAULT '';
