INSERT INTO deliveries (
    id, feedback_id, recipient_id, lead_id, state, next_attempt_time, create_time,
    update_time, policy_start_time, requested_by
)
SELECT $1, f.id, r.id, f.lead_id,
       CASE WHEN r.state = 'active' THEN 'pending' ELSE 'held' END,
       now(), now(), now(), now(), $4
FROM feedback f, recipients r
WHERE f.id = $2 AND r.id = $3
RETURNING id, feedback_id, recipient_id, state, attempt_count, next_attempt_time,
          create_time, update_time
