-- The state is decided here, against the recipient's committed state, not the caller's view.
INSERT INTO deliveries (
    id, feedback_id, recipient_id, lead_id, state, next_attempt_time, create_time,
    update_time, policy_start_time
)
SELECT d.id, d.feedback_id, d.recipient_id, d.lead_id,
       CASE WHEN r.state = 'active' THEN 'pending' ELSE 'held' END,
       d.created, d.created, d.created, d.created
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
     AS d (id, feedback_id, recipient_id, lead_id, created)
JOIN recipients r ON r.id = d.recipient_id
