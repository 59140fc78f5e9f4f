-- The first deliveries waiting for a recipient's next batch, in file order (a preview).
SELECT d.id AS delivery_id, d.feedback_id, d.create_time, f.lead_id, f.source_id, f.record
FROM deliveries d
JOIN feedback f ON f.id = d.feedback_id
WHERE d.recipient_id = :recipient_id AND d.state = 'awaiting_batch'
ORDER BY d.create_time, d.id
LIMIT :limit
