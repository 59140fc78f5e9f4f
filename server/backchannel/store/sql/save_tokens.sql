UPDATE recipient_health SET tokens = :tokens, tokens_time = :tokens_time WHERE recipient_id = :recipient_id
