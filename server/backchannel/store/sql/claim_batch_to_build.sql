-- A batch left 'building' by a builder that died (its lease expired), taken under a new
-- lease to be built again from its recorded membership.
UPDATE batches SET
    lease_until = now() + make_interval(secs => :lease_seconds),
    lease_token = gen_random_uuid(), update_time = now()
WHERE id = (
    SELECT id FROM batches
    WHERE state = 'building' AND lease_until < now()
    ORDER BY lease_until
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, lease_token::text, spool_oid, manifest_oid
