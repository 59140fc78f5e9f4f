SELECT * FROM recipients WHERE id = ANY(:recipient_ids::text[]) AND delete_time IS NULL
