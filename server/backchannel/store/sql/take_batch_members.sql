-- Decides a batch's membership: the recipient's waiting deliveries created before
-- :period_end, oldest first, at most :max_rows (NULL: all), become 'in_batch' with the new
-- batch's id, and the batch row is created 'building' under a lease held by its builder.
-- Nothing is created when nothing waits, unless :create_empty. Run after
-- lock_batch_recipient, in the transaction that commits it, before a byte is rendered.
WITH members AS (
    SELECT d.id
    FROM deliveries d
    WHERE d.recipient_id = :recipient_id AND d.state = 'awaiting_batch'
      AND d.create_time < :period_end
    ORDER BY d.create_time, d.id
    LIMIT :max_rows::bigint
    FOR UPDATE
), batch AS (
    INSERT INTO batches (
        id, recipient_id, sequence, period_start, period_end, run_time, state,
        next_attempt_time, lease_until, lease_token, requested_by, policy_start_time,
        create_time, update_time
    )
    SELECT :batch_id, :recipient_id,
           coalesce((SELECT max(sequence) FROM batches WHERE recipient_id = :recipient_id), 0) + 1,
           :period_start, :period_end, :run_time, 'building', now(),
           now() + make_interval(secs => :lease_seconds), gen_random_uuid(), :requested_by,
           now(), now(), now()
    WHERE :create_empty OR EXISTS (SELECT 1 FROM members)
    RETURNING id, sequence, lease_token::text
), taken AS (
    UPDATE deliveries d SET
        state = 'in_batch', batch_id = (SELECT id FROM batch), update_time = now()
    FROM members m
    WHERE d.id = m.id AND EXISTS (SELECT 1 FROM batch)
    RETURNING d.id
)
SELECT (SELECT id FROM batch) AS batch_id, (SELECT sequence FROM batch) AS sequence,
       (SELECT lease_token FROM batch) AS lease_token, (SELECT count(*) FROM taken) AS taken
