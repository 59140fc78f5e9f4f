-- A builder or sender still at work keeps its batches.
UPDATE batches SET lease_until = now() + make_interval(secs => :lease_seconds)
WHERE lease_token = ANY(:lease_tokens::uuid[]) AND state IN ('building', 'in_flight')
