SELECT count(*) FROM deliveries WHERE recipient_id = :recipient_id AND state = 'awaiting_batch'
