SELECT id, feedback_id, lead_id, state FROM deliveries
WHERE batch_id = :batch_id ORDER BY create_time, id LIMIT :limit
