SELECT id FROM deliveries WHERE feedback_id = :feedback_id AND recipient_id = :recipient_id FOR UPDATE
