-- Every member of a finished batch has its final event; only for the round settled (a
-- batch retried meanwhile has a new round to settle).
UPDATE batches SET members_settled = true
WHERE id = :batch_id AND state = :state AND attempt_count = :attempt_count
RETURNING spool_oid, manifest_oid, state
