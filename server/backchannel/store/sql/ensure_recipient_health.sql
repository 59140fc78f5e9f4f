INSERT INTO recipient_health (recipient_id, tokens) VALUES ($1, $2)
ON CONFLICT (recipient_id) DO NOTHING
