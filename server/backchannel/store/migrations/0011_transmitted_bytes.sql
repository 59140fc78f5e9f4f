-- Events describe the bytes actually transmitted: the size and SHA-256 a transport reports
-- of what it put on the wire (a Teams card, a gzipped upload, a MIME message), beside
-- content_size and content_sha256, which keep describing what the formatter produced. NULL
-- size: the transport did not say (every event recorded before this). And the transport's
-- details of the attempt (trimmed items, refused recipients, the failed step...), redacted.
ALTER TABLE feedback_events
    ADD COLUMN transmitted_size bigint,
    ADD COLUMN transmitted_sha256 text NOT NULL DEFAULT '',
    ADD COLUMN details jsonb NOT NULL DEFAULT '{}';
