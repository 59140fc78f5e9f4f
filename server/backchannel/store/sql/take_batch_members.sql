-- Takes up to :limit more of the recipient's waiting deliveries created before
-- :period_end, oldest first, into batch :batch_id (a chunk: a batch of a million rows is
-- taken in several statements of one transaction, each well within the statement timeout).
WITH members AS (
    SELECT d.id
    FROM deliveries d
    WHERE d.recipient_id = :recipient_id AND d.state = 'awaiting_batch'
      AND d.create_time < :period_end
    ORDER BY d.create_time, d.id
    LIMIT :limit
    FOR UPDATE
)
UPDATE deliveries d SET state = 'in_batch', batch_id = :batch_id, update_time = now()
FROM members m
WHERE d.id = m.id
