-- A deleted recipient's deliveries that are not being sent end cancelled, and so do its
-- batches that are not being sent, with their members.
WITH batches_cancelled AS (
    UPDATE batches SET state = 'cancelled', update_time = now()
    WHERE recipient_id = :recipient_id AND state IN ('building', 'pending', 'held')
    RETURNING id
)
UPDATE deliveries SET state = 'cancelled', update_time = now()
WHERE recipient_id = :recipient_id AND (
    state IN ('pending', 'held', 'awaiting_batch')
    OR (state = 'in_batch' AND batch_id IN (SELECT id FROM batches_cancelled))
)
