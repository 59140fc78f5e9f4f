-- Ends up to :limit members of a finished batch with its state (a chunk per transaction,
-- so no one transaction holds event readers back for long); returns them for their events.
-- Only while the batch is still finished as read (same state, same attempt count, not yet
-- settled): the batch row is share-locked, so an operator's retry (which locks it to
-- revive the members) runs wholly before or after a chunk, never in between.
WITH batch AS (
    SELECT id FROM batches
    WHERE id = :batch_id AND state = :state AND attempt_count = :attempt_count
      AND NOT members_settled
    FOR SHARE
), chunk AS (
    SELECT id FROM deliveries
    WHERE batch_id = (SELECT id FROM batch) AND state = 'in_batch'
    ORDER BY create_time, id
    LIMIT :limit
    FOR UPDATE
)
UPDATE deliveries d SET state = :state, update_time = now()
FROM chunk, feedback f
WHERE d.id = chunk.id AND f.id = d.feedback_id
RETURNING d.id AS delivery_id, d.feedback_id, f.lead_id, f.source_id
