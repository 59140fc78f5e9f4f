-- Moves a claimed schedule to its next occurrence and releases it; only by the holder of
-- its lease (a run whose lease was lost must roll back: another replica has the schedule).
UPDATE batch_schedules SET
    next_run_at = :next_run_at, last_period_end = :period_end, lease_until = NULL,
    lease_token = NULL
WHERE recipient_id = :recipient_id AND lease_token = :lease_token::uuid
RETURNING recipient_id
