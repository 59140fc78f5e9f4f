INSERT INTO feedback_events (
    id, feedback_id, delivery_id, attempt, recipient_id, recipient_type, transport,
    format_name, content_type, aggregation_level, processing_status, response_code,
    response_excerpt, remote_id, start_time, end_time, latency_us, content_size,
    content_sha256, trace_id, span_id, plugin_distribution, plugin_version, server_version,
    worker_id, next_attempt_time, lead_id, source_id, category, message, requested_by
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31
)
-- A batch retried after a commit whose answer was lost is recorded once.
ON CONFLICT (id) DO NOTHING
