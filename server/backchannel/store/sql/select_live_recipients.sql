SELECT * FROM recipients WHERE delete_time IS NULL
