-- Replaces a live report's definition and when it is next due.
UPDATE reports SET definition = :definition::jsonb, next_run_at = :next_run_at,
    update_time = now()
WHERE id = :id AND delete_time IS NULL
RETURNING *
