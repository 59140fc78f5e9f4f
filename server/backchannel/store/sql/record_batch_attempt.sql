-- Moves an attempted batch on, only by the holder of its lease: 'pending' again (a retry
-- at :next_attempt_time; held or cancelled meanwhile stays so), or finished, when its
-- members get their own final events next (members_settled false).
UPDATE batches b SET
    state = :state,
    next_attempt_time = coalesce(:next_attempt_time, b.next_attempt_time),
    reason = :reason, lease_until = NULL, lease_token = NULL, requested_by = '',
    members_settled = :state NOT IN ('succeeded', 'failed', 'dead'),
    update_time = now()
WHERE b.id = :batch_id AND b.lease_token = :lease_token::uuid AND b.state = 'in_flight'
RETURNING b.id
