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
    retry_delays_seconds = $12,
    max_attempts = $13,
    max_age_seconds = $14,
    max_per_second = $15,
    burst = $16,
    max_concurrency = $17,
    ordered_delivery = $18,
    disabled_reason = $19,
    revision = revision + 1,
    update_time = now()
WHERE id = $1 AND delete_time IS NULL
RETURNING *
