-- Finished batches whose members do not all have their final event yet.
SELECT id, recipient_id, state, file_name, row_count, excluded_count, compression,
       encryption, format_name, content_type, size, sha256, reason, attempt_count
FROM batches WHERE NOT members_settled ORDER BY update_time LIMIT :limit
