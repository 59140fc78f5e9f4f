SELECT * FROM recipients WHERE id = :recipient_id AND delete_time IS NULL FOR UPDATE
