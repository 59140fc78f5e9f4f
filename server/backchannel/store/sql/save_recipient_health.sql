UPDATE recipient_health SET
    consecutive_failures = $2, failing_since = $3, last_success_time = $4,
    circuit_state = $5, open_until = $6, open_count = $7, window_start = $8,
    window_attempts = $9, window_failures = $10
WHERE recipient_id = $1
