SELECT id FROM deliveries WHERE feedback_id = $1 AND recipient_id = $2 FOR UPDATE
