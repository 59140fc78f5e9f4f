UPDATE deliveries SET state = 'held', update_time = now()
WHERE recipient_id = $1 AND state = 'pending'
