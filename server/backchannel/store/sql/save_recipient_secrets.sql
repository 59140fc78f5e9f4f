-- The recipient's secrets sealed again (or removed): its settings are what they were, so
-- neither its revision nor its update time moves.
UPDATE recipients SET sealed_secrets = :sealed_secrets, plaintext_secret_settings = '{}'
WHERE id = :recipient_id
