SELECT * FROM recipients WHERE id = $1 AND delete_time IS NULL FOR UPDATE
