-- Claims due deliveries of active recipients with a short lease. The transaction ends
-- with this statement: nothing is held while the delivery is sent.
WITH due AS (
    SELECT id FROM deliveries
    WHERE state = 'pending' AND next_attempt_time <= now()
    ORDER BY next_attempt_time
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET
    state = 'in_flight',
    attempt_count = d.attempt_count + 1,
    lease_until = now() + make_interval(secs => $2),
    lease_token = gen_random_uuid(),
    update_time = now()
FROM due, feedback f, recipients r
WHERE d.id = due.id AND f.id = d.feedback_id AND r.id = d.recipient_id
RETURNING d.id AS delivery_id, d.feedback_id, d.attempt_count, d.lease_token::text,
          f.record, f.traceparent, f.accept_time, r.*
