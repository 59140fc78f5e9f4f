-- Writes a batch of events and what goes with them, in one statement: the recipients'
-- health ($1-$10, one row per position), one feedback-sent or operator event per position
-- of $11-$41 (a batch retried after a commit whose answer was lost is recorded once), and
-- each attempted delivery moved on ($42-$45: only by the holder of its current lease; a
-- retry of a recipient paused, disabled or deleted meanwhile is held or cancelled); then
-- the wake-up for event readers. Operator events come with empty health and deliveries.
WITH health AS (
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
), events AS (
    INSERT INTO feedback_events (
        id, feedback_id, delivery_id, attempt, recipient_id, recipient_type, transport,
        format_name, content_type, aggregation_level, processing_status, response_code,
        response_excerpt, remote_id, start_time, end_time, latency_us, content_size,
        content_sha256, trace_id, span_id, plugin_distribution, plugin_version,
        server_version, worker_id, next_attempt_time, lead_id, source_id, category, message,
        requested_by
    )
    SELECT * FROM unnest(
        $11::text[], $12::text[], $13::text[], $14::int[], $15::text[], $16::text[],
        $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::int[],
        $23::text[], $24::text[], $25::timestamptz[], $26::timestamptz[], $27::bigint[],
        $28::bigint[], $29::text[], $30::text[], $31::text[], $32::text[], $33::text[],
        $34::text[], $35::text[], $36::timestamptz[], $37::text[], $38::text[], $39::text[],
        $40::text[], $41::text[]
    )
    ON CONFLICT (id) DO NOTHING
), finished AS (
    UPDATE deliveries d SET
        state = CASE
            WHEN u.state <> 'pending' THEN u.state
            WHEN r.delete_time IS NOT NULL THEN 'cancelled'
            WHEN r.state <> 'active' THEN 'held'
            ELSE 'pending'
        END,
        next_attempt_time = COALESCE(u.next_attempt_time, d.next_attempt_time),
        lease_until = NULL,
        lease_token = NULL,
        requested_by = '',
        update_time = now()
    FROM unnest($42::text[], $43::uuid[], $44::text[], $45::timestamptz[])
         AS u (id, lease_token, state, next_attempt_time), recipients r
    WHERE d.id = u.id AND d.lease_token = u.lease_token AND d.state = 'in_flight'
      AND r.id = d.recipient_id
)
SELECT pg_notify('backchannel_events', '')
