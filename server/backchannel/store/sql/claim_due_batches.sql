-- Due pending batches of active recipients whose circuit lets deliveries through (closed,
-- or open past its cool-down), each taken for one attempt under a lease.
WITH due AS (
    SELECT b.id
    FROM batches b
    JOIN recipients r ON r.id = b.recipient_id
    LEFT JOIN recipient_health h ON h.recipient_id = b.recipient_id
    WHERE b.state = 'pending' AND b.next_attempt_time <= now()
      AND r.state = 'active' AND r.delete_time IS NULL
      AND (h.circuit_state IS NULL OR h.circuit_state = 'closed' OR h.open_until <= now())
    ORDER BY b.next_attempt_time
    LIMIT :limit
    FOR UPDATE OF b SKIP LOCKED
)
UPDATE batches b SET
    state = 'in_flight', attempt_count = b.attempt_count + 1,
    lease_until = now() + make_interval(secs => :lease_seconds),
    lease_token = gen_random_uuid(), update_time = now()
FROM due, recipients r
WHERE b.id = due.id AND r.id = b.recipient_id
RETURNING b.*, b.lease_token::text AS lease_text, r.revision AS recipient_revision
