-- An operator's retry: due now, with a fresh retry policy, recorded with who asked (for a
-- batch recipient: in its next batch).
UPDATE deliveries d SET
    state = CASE
        WHEN r.batch IS NOT NULL THEN 'awaiting_batch'
        WHEN r.state = 'active' THEN 'pending'
        ELSE 'held'
    END,
    batch_id = NULL,
    next_attempt_time = now(),
    requested_by = :requested_by,
    policy_attempt_offset = d.attempt_count,
    policy_start_time = now(),
    update_time = now()
FROM recipients r
WHERE d.id = :delivery_id AND r.id = d.recipient_id
RETURNING d.id, d.feedback_id, d.recipient_id, d.state, d.attempt_count, d.next_attempt_time,
          d.create_time, d.update_time
