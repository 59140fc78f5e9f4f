-- A built batch: its file's facts recorded, 'pending' (due now) or 'held'; only by the
-- holder of the build's lease.
UPDATE batches SET
    state = :state, file_name = :file_name, content_type = :content_type, size = :size,
    sha256 = :sha256, row_count = :row_count, excluded_count = :excluded_count,
    excluded = :excluded, reason = :reason, compression = :compression,
    encryption = :encryption, format_name = :format_name, manifest_oid = :manifest_oid,
    manifest_name = :manifest_name, done_name = :done_name, next_attempt_time = now(),
    lease_until = NULL, lease_token = NULL, update_time = now()
WHERE id = :batch_id AND lease_token = :lease_token::uuid AND state = 'building'
RETURNING id
