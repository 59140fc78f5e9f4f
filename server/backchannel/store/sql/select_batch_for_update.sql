SELECT id, state, spool_oid, excluded, recipient_id FROM batches WHERE id = :batch_id FOR UPDATE
