-- An operator's retry of a failed, dead or held batch: the same file due now, with a fresh
-- retry policy; its members are in it again until it ends.
WITH batch AS (
    UPDATE batches SET
        state = 'pending', next_attempt_time = now(), requested_by = :requested_by,
        policy_attempt_offset = attempt_count, policy_start_time = now(), reason = '',
        members_settled = true, update_time = now()
    WHERE id = :batch_id AND state IN ('failed', 'dead', 'held') AND spool_oid IS NOT NULL
    RETURNING id
), members AS (
    UPDATE deliveries SET state = 'in_batch', update_time = now()
    WHERE batch_id = (SELECT id FROM batch) AND state IN ('failed', 'dead')
)
SELECT id FROM batch
