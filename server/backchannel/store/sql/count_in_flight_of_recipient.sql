SELECT count(*) FROM deliveries WHERE recipient_id = $1 AND state = 'in_flight'
