UPDATE batches SET spool_oid = NULL, manifest_oid = NULL WHERE id = :batch_id
