UPDATE deliveries SET state = 'pending', next_attempt_time = now(), update_time = now()
WHERE recipient_id = :recipient_id AND state = 'held'
