UPDATE deliveries SET state = 'cancelled', update_time = now()
WHERE recipient_id = :recipient_id AND state IN ('pending', 'held')
