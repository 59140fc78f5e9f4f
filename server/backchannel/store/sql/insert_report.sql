-- Stores a new report definition, first due at :next_run_at.
INSERT INTO reports (id, recipient_id, definition, next_run_at, create_time, update_time)
VALUES (:id, :recipient_id, :definition::jsonb, :next_run_at, now(), now())
RETURNING *
