UPDATE recipients SET
    display_name = $2,
    recipient_type = $3,
    transport = $4,
    transport_settings = $5,
    secret_settings = $6,
    format = $7,
    format_options = $8,
    subscribed_kinds = $9,
    subscribed_source_ids = $10,
    state = $11,
    revision = revision + 1,
    update_time = now()
WHERE id = $1 AND delete_time IS NULL
RETURNING *
