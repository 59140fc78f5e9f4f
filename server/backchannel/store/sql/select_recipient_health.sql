SELECT * FROM recipient_health WHERE recipient_id = ANY(:recipient_ids::text[])
