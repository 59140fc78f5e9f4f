-- Deletes a report (kept, marked deleted: its runs refer to it); it is never due again.
UPDATE reports SET delete_time = now(), update_time = now(), lease_until = NULL,
    lease_token = NULL
WHERE id = :id AND delete_time IS NULL
RETURNING id, recipient_id
