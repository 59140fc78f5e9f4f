SELECT count(*) FROM deliveries WHERE recipient_id = :recipient_id AND state = 'in_flight'
