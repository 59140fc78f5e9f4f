SELECT * FROM recipients
WHERE delete_time IS NULL AND id > :after_id
  AND (:only_ids::text[] IS NULL OR id = ANY(:only_ids::text[]))
ORDER BY id
LIMIT :limit
