SELECT id, delete_time IS NOT NULL AS deleted, sealed_secrets, plaintext_secret_settings
FROM recipients WHERE id = :recipient_id
FOR UPDATE
