-- A report's run for the period starting at :period_start.
SELECT id, report_id, recipient_id, period_start, period_end, state, attempt_count,
       next_attempt_time, requested_by, file_name, content_type, octet_length(content) AS size,
       sha256, feedback_count, reason, create_time
FROM report_runs
WHERE report_id = :report_id AND period_start = :period_start
