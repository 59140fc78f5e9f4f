UPDATE deliveries SET state = 'cancelled', update_time = now()
WHERE recipient_id = $1 AND state IN ('pending', 'held')
