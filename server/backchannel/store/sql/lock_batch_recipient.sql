-- Serialises the batches of one recipient (their sequence numbers) until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('batch:' || :recipient_id, 0))
