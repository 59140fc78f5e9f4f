-- Recipients whose secrets an earlier version stored in plain text, by id after :after_id.
SELECT id FROM recipients
WHERE plaintext_secret_settings <> '{}' AND id > :after_id
ORDER BY id
LIMIT :limit
