-- Up to :limit subjects' data keys sealed under another ring key than :key_id, locked
-- (others being re-sealed by a concurrent rotation are skipped).
SELECT feedback_id, key_id, nonce, wrapped_key
FROM subject_keys
WHERE key_id <> :key_id
LIMIT :limit
FOR UPDATE SKIP LOCKED
