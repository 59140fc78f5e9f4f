-- Moves an attempted report run on, only by the holder of its lease: 'pending' again (a
-- retry at :next_attempt_time) or finished.
UPDATE report_runs SET
    state = :state, next_attempt_time = coalesce(:next_attempt_time, next_attempt_time),
    reason = :reason, lease_until = NULL, lease_token = NULL, update_time = now()
WHERE id = :id AND lease_token = :lease_token::uuid AND state = 'in_flight'
RETURNING id
