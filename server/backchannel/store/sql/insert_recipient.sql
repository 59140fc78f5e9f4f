-- A deleted recipient's id may be used again: the old row is revived with the new values.
INSERT INTO recipients AS r (
    id, display_name, recipient_type, transport, transport_settings, sealed_secrets,
    format, format_options, subscribed_kinds, subscribed_source_ids, state,
    retry_delays_seconds, max_attempts, max_age_seconds, max_per_second, burst,
    max_concurrency, ordered_delivery, disabled_reason, batch, data_policy,
    required_consent_purposes
) VALUES (
    :id, :display_name, :recipient_type, :transport, :transport_settings, :sealed_secrets,
    :format, :format_options, :subscribed_kinds, :subscribed_source_ids, :state,
    :retry_delays_seconds, :max_attempts, :max_age_seconds, :max_per_second, :burst,
    :max_concurrency, :ordered_delivery, :disabled_reason, :batch, :data_policy,
    :required_consent_purposes
)
ON CONFLICT (id) DO UPDATE SET
    display_name = EXCLUDED.display_name,
    recipient_type = EXCLUDED.recipient_type,
    transport = EXCLUDED.transport,
    transport_settings = EXCLUDED.transport_settings,
    sealed_secrets = EXCLUDED.sealed_secrets,
    plaintext_secret_settings = '{}',
    format = EXCLUDED.format,
    format_options = EXCLUDED.format_options,
    subscribed_kinds = EXCLUDED.subscribed_kinds,
    subscribed_source_ids = EXCLUDED.subscribed_source_ids,
    state = EXCLUDED.state,
    retry_delays_seconds = EXCLUDED.retry_delays_seconds,
    max_attempts = EXCLUDED.max_attempts,
    max_age_seconds = EXCLUDED.max_age_seconds,
    max_per_second = EXCLUDED.max_per_second,
    burst = EXCLUDED.burst,
    max_concurrency = EXCLUDED.max_concurrency,
    ordered_delivery = EXCLUDED.ordered_delivery,
    disabled_reason = EXCLUDED.disabled_reason,
    batch = EXCLUDED.batch,
    data_policy = EXCLUDED.data_policy,
    required_consent_purposes = EXCLUDED.required_consent_purposes,
    revision = r.revision + 1,
    create_time = now(),
    update_time = now(),
    delete_time = NULL
WHERE r.delete_time IS NOT NULL
RETURNING *
