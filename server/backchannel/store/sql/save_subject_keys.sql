-- Stores data keys sealed again: each feedback's key id, nonce and wrapped key.
UPDATE subject_keys k SET key_id = u.key_id, nonce = u.nonce, wrapped_key = u.wrapped_key
FROM unnest(:feedback_ids::text[], :key_ids::text[], :nonces::bytea[], :wrapped_keys::bytea[])
    AS u (feedback_id, key_id, nonce, wrapped_key)
WHERE k.feedback_id = u.feedback_id
