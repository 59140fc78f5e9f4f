INSERT INTO access_tokens (
    id, name, token_sha256, scopes, source_ids, recipient_ids, expire_time, created_by
) VALUES (
    :id, :name, :token_sha256, :scopes, :source_ids, :recipient_ids, :expire_time, :created_by
)
RETURNING *
