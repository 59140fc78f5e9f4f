-- Batch schedules due at :now (the engine's clock) of active batch recipients, each taken
-- under a lease so that one replica runs each occurrence (a lease that expires, from a
-- replica that died, makes it claimable again).
WITH due AS (
    SELECT s.recipient_id
    FROM batch_schedules s
    JOIN recipients r ON r.id = s.recipient_id
    WHERE s.next_run_at <= :now AND (s.lease_until IS NULL OR s.lease_until < now())
      AND r.state = 'active' AND r.delete_time IS NULL AND r.batch IS NOT NULL
    ORDER BY s.next_run_at
    LIMIT :limit
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE batch_schedules s SET
    lease_until = now() + make_interval(secs => :lease_seconds),
    lease_token = gen_random_uuid()
FROM due
WHERE s.recipient_id = due.recipient_id
RETURNING s.recipient_id, s.next_run_at, s.last_period_end, s.lease_token::text
