-- The token with this SHA-256, for a caller presenting it; its last use is written at most
-- once a minute, so verifying costs one read almost always.
WITH found AS (
    SELECT * FROM access_tokens WHERE token_sha256 = :token_sha256
), touched AS (
    UPDATE access_tokens t SET last_use_time = now()
    FROM found
    WHERE t.id = found.id AND found.revoke_time IS NULL
      AND (found.last_use_time IS NULL OR found.last_use_time < now() - interval '1 minute')
)
SELECT * FROM found
