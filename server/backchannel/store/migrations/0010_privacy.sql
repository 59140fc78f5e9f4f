-- Privacy by construction (issue 16).
--
-- A feedback's subject (the lead's personal identifiers) is never in `record` or
-- `response`: it is sealed with AES-256-GCM under a data key of its own (subject_nonce,
-- subject_ciphertext), and that data key, sealed under the server's key ring, is kept in
-- subject_keys, apart from the feedback. Deleting a feedback's subject_keys row (e.g. every
-- row of one lead) leaves every stored copy of its identifiers unreadable: crypto-shredding.
ALTER TABLE feedback ADD COLUMN subject_nonce bytea;
ALTER TABLE feedback ADD COLUMN subject_ciphertext bytea;

CREATE TABLE subject_keys (
    feedback_id  text PRIMARY KEY REFERENCES feedback (id) ON DELETE CASCADE,
    lead_id      text NOT NULL,
    source_id    text NOT NULL,
    -- The data key, sealed under the key ring's key `key_id`.
    key_id       text NOT NULL,
    nonce        bytea NOT NULL,
    wrapped_key  bytea NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subject_keys_by_lead ON subject_keys (lead_id, source_id);

-- Minimization and consent per recipient: NULL data_policy is the default policy.
ALTER TABLE recipients ADD COLUMN data_policy jsonb;
ALTER TABLE recipients ADD COLUMN required_consent_purposes text[] NOT NULL DEFAULT '{}';

-- A delivery whose recipient requires consent the feedback does not grant ends suppressed.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN (
    'pending', 'held', 'in_flight', 'succeeded', 'failed', 'dead', 'cancelled',
    'awaiting_batch', 'in_batch', 'suppressed'));

-- The consent purposes a suppressed transmission lacked, comma-separated.
ALTER TABLE feedback_events ADD COLUMN missing_consent text NOT NULL DEFAULT '';

-- Which ring keys wrap data keys (start-up checks them; `secrets rotate` re-wraps).
CREATE INDEX subject_keys_by_key ON subject_keys (key_id);
