-- Every server drops the token from its cache of verified tokens (delivered at commit).
SELECT pg_notify('backchannel_tokens', :token_id)
