-- A report's latest runs, newest period first.
SELECT id, report_id, recipient_id, period_start, period_end, state, attempt_count,
       next_attempt_time, requested_by, file_name, content_type, octet_length(content) AS size,
       sha256, feedback_count, reason, create_time
FROM report_runs
WHERE report_id = :report_id
ORDER BY period_start DESC
LIMIT :limit
