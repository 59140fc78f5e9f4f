-- Hands back deliveries whose attempt never started or never finished (shutdown, or a
-- recipient already at this process's in-flight cap): due after :due_in_seconds seconds, the attempt
-- not counted.
UPDATE deliveries d SET
    state = CASE
        WHEN r.delete_time IS NOT NULL THEN 'cancelled'
        WHEN r.state <> 'active' THEN 'held'
        ELSE 'pending'
    END,
    attempt_count = d.attempt_count - 1, lease_until = NULL, lease_token = NULL,
    next_attempt_time = now() + make_interval(secs => :due_in_seconds), update_time = now()
FROM recipients r
WHERE d.lease_token = ANY(:lease_tokens::uuid[]) AND d.state = 'in_flight' AND r.id = d.recipient_id
