-- The row stays (deliveries and events point at it), its secrets do not.
UPDATE recipients SET
    delete_time = now(), update_time = now(), revision = revision + 1,
    sealed_secrets = '{}', plaintext_secret_settings = '{}'
WHERE id = :recipient_id AND delete_time IS NULL
RETURNING id
