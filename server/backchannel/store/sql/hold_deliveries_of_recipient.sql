UPDATE deliveries SET state = 'held', update_time = now()
WHERE recipient_id = :recipient_id AND state = 'pending'
