-- Deliveries that may not go yet (circuit open, rate or concurrency limit) wait without
-- using up an attempt.
UPDATE deliveries d SET next_attempt_time = u.due, update_time = now()
FROM unnest(:delivery_ids::text[], :due_times::timestamptz[]) AS u (id, due)
WHERE d.id = u.id AND d.state = 'pending'
