-- Records the spool object a (re)build writes into, by the holder of the build's lease.
UPDATE batches SET spool_oid = :spool_oid, manifest_oid = NULL, update_time = now()
WHERE id = :batch_id AND lease_token = :lease_token::uuid AND state = 'building'
RETURNING id
