-- A worker still busy with an attempt keeps its claims: a long send never lets the lease
-- run out under it (which would send the delivery twice at once).
UPDATE deliveries SET lease_until = now() + make_interval(secs => :lease_seconds)
WHERE lease_token = ANY(:lease_tokens::uuid[]) AND state = 'in_flight'
