-- Ends up to :limit members of a finished batch with its state (a chunk per transaction,
-- so no one transaction holds event readers back for long); returns them for their events.
WITH chunk AS (
    SELECT id FROM deliveries
    WHERE batch_id = :batch_id AND state = 'in_batch'
    ORDER BY create_time, id
    LIMIT :limit
    FOR UPDATE
)
UPDATE deliveries d SET state = :state, update_time = now()
FROM chunk, feedback f
WHERE d.id = chunk.id AND f.id = d.feedback_id
RETURNING d.id AS delivery_id, d.feedback_id, f.lead_id, f.source_id
