-- Saves the health of several recipients at once (one row per array position).
UPDATE recipient_health h SET
    consecutive_failures = u.consecutive_failures, failing_since = u.failing_since,
    last_success_time = u.last_success_time, circuit_state = u.circuit_state,
    open_until = u.open_until, open_count = u.open_count, window_start = u.window_start,
    window_attempts = u.window_attempts, window_failures = u.window_failures
FROM unnest(
    $1::text[], $2::int[], $3::timestamptz[], $4::timestamptz[], $5::text[],
    $6::timestamptz[], $7::int[], $8::timestamptz[], $9::int[], $10::int[]
) AS u (
    recipient_id, consecutive_failures, failing_since, last_success_time, circuit_state,
    open_until, open_count, window_start, window_attempts, window_failures
)
WHERE h.recipient_id = u.recipient_id
