SELECT * FROM access_tokens WHERE id = :token_id
