-- Reports whose schedule is due at :now (the engine's clock), of active recipients, each
-- taken under a lease so that one replica runs each occurrence (a lease that expires, from
-- a replica that died, makes it claimable again).
WITH due AS (
    SELECT p.id
    FROM reports p
    JOIN recipients r ON r.id = p.recipient_id
    WHERE p.delete_time IS NULL AND p.next_run_at <= :now
      AND (p.lease_until IS NULL OR p.lease_until < now())
      AND r.state = 'active' AND r.delete_time IS NULL
    ORDER BY p.next_run_at
    LIMIT :limit
    FOR UPDATE OF p SKIP LOCKED
)
UPDATE reports p SET
    lease_until = now() + make_interval(secs => :lease_seconds),
    lease_token = gen_random_uuid()
FROM due
WHERE p.id = due.id
RETURNING p.*, p.lease_token::text AS lease_text
