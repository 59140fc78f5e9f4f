-- Finished batches whose files are still spooled although they ended before :before (the
-- event retention): failed, dead and cancelled ones keep theirs for RetryBatch until then.
SELECT id, spool_oid, manifest_oid FROM batches
WHERE state IN ('failed', 'dead', 'cancelled') AND update_time < :before
  AND (spool_oid IS NOT NULL OR manifest_oid IS NOT NULL)
LIMIT 100
