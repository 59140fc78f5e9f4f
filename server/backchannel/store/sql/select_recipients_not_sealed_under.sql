-- Recipients with a secret not sealed under :key_id (or in plain text still), and deleted
-- recipients with any secret left, by id after :after_id.
SELECT id FROM recipients r
WHERE id > :after_id AND (
    plaintext_secret_settings <> '{}'
    OR (delete_time IS NOT NULL AND sealed_secrets <> '{}')
    OR EXISTS (SELECT 1 FROM jsonb_each(r.sealed_secrets) s WHERE s.value->>'key_id' <> :key_id)
)
ORDER BY id
LIMIT :limit
