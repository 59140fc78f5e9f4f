SELECT * FROM recipient_health WHERE recipient_id = $1 FOR UPDATE
