SELECT * FROM recipient_health WHERE recipient_id = ANY($1::text[])
