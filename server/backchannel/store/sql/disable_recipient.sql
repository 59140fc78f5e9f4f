UPDATE recipients SET
    state = 'disabled', disabled_reason = $2, revision = revision + 1, update_time = now()
WHERE id = $1 AND state <> 'disabled' AND delete_time IS NULL
RETURNING id
