SELECT * FROM recipients
WHERE delete_time IS NULL AND id > $1
ORDER BY id
LIMIT $2
