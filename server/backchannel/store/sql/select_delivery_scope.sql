SELECT d.recipient_id, f.source_id
FROM deliveries d JOIN feedback f ON f.id = d.feedback_id
WHERE d.id = :delivery_id
