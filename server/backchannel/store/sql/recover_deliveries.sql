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
WHERE d.recipient_id = :recipient_id AND r.id = d.recipient_id
  AND d.state IN ('failed', 'dead') AND d.create_time >= :created_from AND d.create_time < :created_before
  AND (:source_ids::text[] IS NULL OR EXISTS (
      SELECT 1 FROM feedback f WHERE f.id = d.feedback_id AND f.source_id = ANY(:source_ids::text[])
  ))
RETURNING d.id
