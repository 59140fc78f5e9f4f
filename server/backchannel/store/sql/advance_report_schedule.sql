-- Moves a claimed report to its next occurrence and releases it; only by the holder of
-- its lease (a run whose lease was lost must roll back: another replica has it).
UPDATE reports SET next_run_at = :next_run_at, lease_until = NULL, lease_token = NULL
WHERE id = :id AND lease_token = :lease_token::uuid
RETURNING id
