-- A page of a batch's members in file order (deliveries_by_batch), after a position.
SELECT d.id AS delivery_id, d.feedback_id, d.create_time, f.lead_id, f.source_id, f.record
FROM deliveries d
JOIN feedback f ON f.id = d.feedback_id
WHERE d.batch_id = :batch_id AND (d.create_time, d.id) > (:after_time, :after_id)
ORDER BY d.create_time, d.id
LIMIT :limit
