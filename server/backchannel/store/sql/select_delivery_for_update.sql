SELECT d.id, d.state, d.recipient_id, r.state AS recipient_state, r.delete_time
FROM deliveries d JOIN recipients r ON r.id = d.recipient_id
WHERE d.id = :delivery_id
FOR UPDATE OF d
