SELECT * FROM batches
WHERE recipient_id = :recipient_id AND sequence < :before_sequence
ORDER BY sequence DESC
LIMIT :limit
