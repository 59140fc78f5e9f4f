-- A health row for every recipient in $1 that has none yet (its token bucket empty).
INSERT INTO recipient_health (recipient_id, tokens)
SELECT id, 0.0 FROM unnest($1::text[]) AS u (id)
ON CONFLICT (recipient_id) DO NOTHING
