-- A page of a batch's members in file order (deliveries_by_batch), after a position.
SELECT d.id AS delivery_id, d.feedback_id, d.create_time, f.lead_id, f.source_id, f.record,
       f.subject_nonce, f.subject_ciphertext, k.key_id AS subject_key_id,
       k.nonce AS subject_key_nonce, k.wrapped_key AS subject_wrapped_key
FROM deliveries d
JOIN feedback f ON f.id = d.feedback_id
LEFT JOIN subject_keys k ON k.feedback_id = f.id
WHERE d.batch_id = :batch_id AND (d.create_time, d.id) > (:after_time, :after_id)
ORDER BY d.create_time, d.id
LIMIT :limit
