-- A recipient that stops taking batches gets its waiting feedback one by one instead.
UPDATE deliveries d SET
    state = CASE WHEN r.state = 'active' THEN 'pending' ELSE 'held' END,
    next_attempt_time = now(), update_time = now()
FROM recipients r
WHERE d.recipient_id = :recipient_id AND d.state = 'awaiting_batch' AND r.id = d.recipient_id
