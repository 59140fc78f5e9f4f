UPDATE recipient_health SET
    consecutive_failures = 0, failing_since = NULL, circuit_state = 'closed',
    open_until = NULL, open_count = 0, window_start = now(), window_attempts = 0,
    window_failures = 0
WHERE recipient_id = :recipient_id
