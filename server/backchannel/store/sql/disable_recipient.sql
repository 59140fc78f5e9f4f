UPDATE recipients SET
    state = 'disabled', disabled_reason = :reason, revision = revision + 1, update_time = now()
WHERE id = :recipient_id AND state <> 'disabled' AND delete_time IS NULL
RETURNING id
