-- Every key id stored secrets are sealed under, with how many values it seals.
SELECT s.value->>'key_id' AS key_id, count(*) AS secrets
FROM recipients r, jsonb_each(r.sealed_secrets) s
GROUP BY 1
ORDER BY 1
