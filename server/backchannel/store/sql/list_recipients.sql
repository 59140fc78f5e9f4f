SELECT * FROM recipients
WHERE delete_time IS NULL AND id > :after_id
ORDER BY id
LIMIT :limit
