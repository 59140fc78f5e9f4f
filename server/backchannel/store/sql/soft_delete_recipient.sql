UPDATE recipients SET delete_time = now(), update_time = now(), revision = revision + 1
WHERE id = :recipient_id AND delete_time IS NULL
RETURNING id
