-- Makes a report's run for a period, due now; nothing when that period already has one
-- (a period is never sent twice).
INSERT INTO report_runs (
    id, report_id, recipient_id, period_start, period_end, state, next_attempt_time,
    requested_by, file_name, content_type, content, text_alternative, sha256, feedback_count, create_time,
    update_time
)
VALUES (
    :id, :report_id, :recipient_id, :period_start, :period_end, 'pending', now(),
    :requested_by, :file_name, :content_type, :content, :text_alternative, :sha256, :feedback_count, now(), now()
)
ON CONFLICT (report_id, period_start) DO NOTHING
RETURNING id
