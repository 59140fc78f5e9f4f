-- A sender that died past its lease loses its batch: due again now (the same file). A
-- builder's batch stays 'building' for claim_batch_to_build.
UPDATE batches SET state = 'pending', lease_until = NULL, lease_token = NULL,
    next_attempt_time = now(), update_time = now()
WHERE state = 'in_flight' AND lease_until < now()
RETURNING id
