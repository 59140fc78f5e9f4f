-- Revokes a token not revoked yet; returns it only then.
UPDATE access_tokens SET revoke_time = now()
WHERE id = :token_id AND revoke_time IS NULL
RETURNING *
