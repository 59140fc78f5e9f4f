-- A health row for every recipient in $1 that has none yet, its token bucket holding $2.
INSERT INTO recipient_health (recipient_id, tokens)
SELECT id, $2::double precision FROM unnest($1::text[]) AS u (id)
ON CONFLICT (recipient_id) DO NOTHING
