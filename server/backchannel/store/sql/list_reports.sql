-- Live reports by id after :after_id, of one recipient or ('') of all.
SELECT * FROM reports
WHERE delete_time IS NULL AND id > :after_id
  AND (:recipient_id = '' OR recipient_id = :recipient_id)
ORDER BY id
LIMIT :limit
