UPDATE deliveries d SET
    state = CASE WHEN r.state = 'active' THEN 'pending' ELSE 'held' END,
    next_attempt_time = now(),
    requested_by = $4,
    policy_attempt_offset = d.attempt_count,
    policy_start_time = now(),
    update_time = now()
FROM recipients r
WHERE d.recipient_id = $1 AND r.id = d.recipient_id
  AND d.state IN ('failed', 'dead') AND d.create_time >= $2 AND d.create_time < $3
RETURNING d.id
