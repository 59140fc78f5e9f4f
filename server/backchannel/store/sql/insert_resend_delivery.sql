INSERT INTO deliveries (
    id, feedback_id, recipient_id, lead_id, state, next_attempt_time, create_time,
    update_time, policy_start_time, requested_by
)
SELECT :delivery_id, f.id, r.id, f.lead_id,
       CASE
           WHEN r.batch IS NOT NULL THEN 'awaiting_batch'
           WHEN r.state = 'active' THEN 'pending'
           ELSE 'held'
       END,
       now(), now(), now(), now(), :requested_by
FROM feedback f, recipients r
WHERE f.id = :feedback_id AND r.id = :recipient_id
RETURNING id, feedback_id, recipient_id, state, attempt_count, next_attempt_time,
          create_time, update_time
