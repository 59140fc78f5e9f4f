-- Writes a batch of events and what goes with them, in one statement: the recipients'
-- health (the health_* arrays, one recipient per position), the events (the event_*
-- arrays, one feedback-sent or operator event per position; a batch retried after a
-- commit whose answer was lost is recorded once), and each attempted delivery moved on
-- (the delivery_* arrays: only by the holder of its current lease; a retry of a
-- recipient paused, disabled or deleted meanwhile is held or cancelled); then the wake-up
-- for event readers. Each array is named after the column it fills.
WITH health AS (
    UPDATE recipient_health h SET
        consecutive_failures = u.consecutive_failures, failing_since = u.failing_since,
        last_success_time = u.last_success_time, circuit_state = u.circuit_state,
        open_until = u.open_until, open_count = u.open_count, window_start = u.window_start,
        window_attempts = u.window_attempts, window_failures = u.window_failures
    FROM unnest(
        :health_recipient_id::text[], :health_consecutive_failures::int[],
        :health_failing_since::timestamptz[], :health_last_success_time::timestamptz[],
        :health_circuit_state::text[], :health_open_until::timestamptz[],
        :health_open_count::int[], :health_window_start::timestamptz[],
        :health_window_attempts::int[], :health_window_failures::int[]
    ) AS u (
        recipient_id, consecutive_failures, failing_since, last_success_time,
        circuit_state, open_until, open_count, window_start, window_attempts,
        window_failures
    )
    WHERE h.recipient_id = u.recipient_id
), events AS (
    INSERT INTO feedback_events (
        id, feedback_id, delivery_id, attempt, recipient_id, recipient_type, transport,
        format_name, content_type, aggregation_level, processing_status, response_code,
        response_excerpt, remote_id, start_time, end_time, latency_us, content_size,
        content_sha256, trace_id, span_id, plugin_distribution, plugin_version,
        server_version, worker_id, next_attempt_time, lead_id, source_id, category,
        message, requested_by, origin_trace_id, batch_id, item_count, excluded_count,
        file_name, compression, encryption, transmitted_size, transmitted_sha256, details,
        missing_consent, report_id, period_start, period_end
    )
    SELECT * FROM unnest(
        :event_id::text[], :event_feedback_id::text[], :event_delivery_id::text[],
        :event_attempt::int[], :event_recipient_id::text[], :event_recipient_type::text[],
        :event_transport::text[], :event_format_name::text[], :event_content_type::text[],
        :event_aggregation_level::text[], :event_processing_status::text[],
        :event_response_code::int[], :event_response_excerpt::text[],
        :event_remote_id::text[], :event_start_time::timestamptz[],
        :event_end_time::timestamptz[], :event_latency_us::bigint[],
        :event_content_size::bigint[], :event_content_sha256::text[],
        :event_trace_id::text[], :event_span_id::text[],
        :event_plugin_distribution::text[], :event_plugin_version::text[],
        :event_server_version::text[], :event_worker_id::text[],
        :event_next_attempt_time::timestamptz[], :event_lead_id::text[],
        :event_source_id::text[], :event_category::text[], :event_message::text[],
        :event_requested_by::text[], :event_origin_trace_id::text[], :event_batch_id::text[],
        :event_item_count::bigint[], :event_excluded_count::bigint[], :event_file_name::text[],
        :event_compression::text[], :event_encryption::text[],
        :event_transmitted_size::bigint[], :event_transmitted_sha256::text[],
        :event_details::jsonb[], :event_missing_consent::text[],
        :event_report_id::text[], :event_period_start::timestamptz[],
        :event_period_end::timestamptz[]
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
    FROM unnest(
        :delivery_id::text[], :delivery_lease_token::uuid[], :delivery_state::text[],
        :delivery_next_attempt_time::timestamptz[]
    ) AS u (id, lease_token, state, next_attempt_time), recipients r
    WHERE d.id = u.id AND d.lease_token = u.lease_token AND d.state = 'in_flight'
      AND r.id = d.recipient_id
)
SELECT pg_notify('backchannel_events', '')
