SELECT d.id, d.feedback_id, d.lead_id, f.source_id, d.state
FROM deliveries d JOIN feedback f ON f.id = d.feedback_id
WHERE d.batch_id = :batch_id ORDER BY d.create_time, d.id LIMIT :limit
