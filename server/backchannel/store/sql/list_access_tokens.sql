SELECT * FROM access_tokens
WHERE id > :after_id AND (:include_revoked::boolean OR revoke_time IS NULL)
ORDER BY id
LIMIT :limit
