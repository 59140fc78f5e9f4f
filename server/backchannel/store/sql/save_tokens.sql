UPDATE recipient_health SET tokens = $2, tokens_time = $3 WHERE recipient_id = $1
