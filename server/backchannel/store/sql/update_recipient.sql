UPDATE recipients SET
    display_name = :display_name,
    recipient_type = :recipient_type,
    transport = :transport,
    transport_settings = :transport_settings,
    secret_settings = :secret_settings,
    format = :format,
    format_options = :format_options,
    subscribed_kinds = :subscribed_kinds,
    subscribed_source_ids = :subscribed_source_ids,
    state = :state,
    retry_delays_seconds = :retry_delays_seconds,
    max_attempts = :max_attempts,
    max_age_seconds = :max_age_seconds,
    max_per_second = :max_per_second,
    burst = :burst,
    max_concurrency = :max_concurrency,
    ordered_delivery = :ordered_delivery,
    disabled_reason = :disabled_reason,
    batch = :batch,
    revision = revision + 1,
    update_time = now()
WHERE id = :id AND delete_time IS NULL
RETURNING *
