-- A new batch of a recipient, 'building' under a lease held by its builder, numbered after
-- the recipient's last one; only when some delivery waits for it (created before
-- :period_end) or :create_empty. Run after lock_batch_recipient, in the transaction that
-- then takes its members (take_batch_members) and commits it all before a byte is rendered.
INSERT INTO batches (
    id, recipient_id, sequence, period_start, period_end, run_time, state, next_attempt_time,
    lease_until, lease_token, requested_by, policy_start_time, create_time, update_time
)
SELECT :batch_id, :recipient_id,
       coalesce((SELECT max(sequence) FROM batches WHERE recipient_id = :recipient_id), 0) + 1,
       :period_start, :period_end, :run_time, 'building', now(),
       now() + make_interval(secs => :lease_seconds), gen_random_uuid(), :requested_by,
       now(), now(), now()
WHERE :create_empty OR EXISTS (
    SELECT 1 FROM deliveries
    WHERE recipient_id = :recipient_id AND state = 'awaiting_batch'
      AND create_time < :period_end
)
RETURNING id, sequence, lease_token::text
