-- The first deliveries waiting for a recipient's next batch, in file order (a preview).
SELECT d.id AS delivery_id, d.feedback_id, d.create_time, f.lead_id, f.source_id, f.record,
       f.subject_nonce, f.subject_ciphertext, k.key_id AS subject_key_id,
       k.nonce AS subject_key_nonce, k.wrapped_key AS subject_wrapped_key
FROM deliveries d
JOIN feedback f ON f.id = d.feedback_id
LEFT JOIN subject_keys k ON k.feedback_id = f.id
WHERE d.recipient_id = :recipient_id AND d.state = 'awaiting_batch'
ORDER BY d.create_time, d.id
LIMIT :limit
