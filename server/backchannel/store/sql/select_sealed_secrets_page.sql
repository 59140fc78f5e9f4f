-- The sealed secrets of recipients that have any, by id after :after_id.
SELECT id, sealed_secrets FROM recipients
WHERE sealed_secrets <> '{}' AND id > :after_id
ORDER BY id
LIMIT :limit
