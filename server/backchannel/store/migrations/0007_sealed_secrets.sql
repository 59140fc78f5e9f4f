-- Secret settings are stored sealed (AES-256-GCM under a key ring, see backchannel.sealing):
-- sealed_secrets maps each setting's name to {"key_id", "nonce", "ciphertext"} (base64).
-- The plain-text column of earlier versions is renamed and kept only until the server
-- seals what it holds, at its first start with a secret key.
ALTER TABLE recipients RENAME COLUMN secret_settings TO plaintext_secret_settings;
ALTER TABLE recipients ADD COLUMN sealed_secrets jsonb NOT NULL DEFAULT '{}';

-- A deleted recipient keeps no secrets.
UPDATE recipients SET plaintext_secret_settings = '{}'
WHERE delete_time IS NOT NULL AND plaintext_secret_settings <> '{}';

-- Every change to a recipient moves the directory version, but sealing its secrets again
-- under a new key (`backchannel secrets rotate`) changes nothing any replica shows or
-- chooses: it must not make every replica read every recipient again, once per row.
DROP TRIGGER recipients_changed ON recipients;
CREATE TRIGGER recipients_added_or_removed
AFTER INSERT OR DELETE ON recipients
FOR EACH STATEMENT EXECUTE FUNCTION bump_recipient_directory_version();
CREATE TRIGGER recipients_changed
AFTER UPDATE ON recipients
FOR EACH ROW
WHEN (to_jsonb(OLD) - 'sealed_secrets' - 'plaintext_secret_settings'
      IS DISTINCT FROM to_jsonb(NEW) - 'sealed_secrets' - 'plaintext_secret_settings')
EXECUTE FUNCTION bump_recipient_directory_version();
