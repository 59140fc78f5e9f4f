UPDATE batches SET members_settled = true WHERE id = :batch_id
RETURNING spool_oid, manifest_oid, state
