SELECT min(next_attempt_time) FROM deliveries WHERE state = 'pending'
