SELECT * FROM recipients WHERE id = ANY($1::text[]) AND delete_time IS NULL
