-- The health rows of the recipients in :recipient_ids, each created if it has none yet (its token
-- bucket holding :initial_tokens), locked in recipient id order (a fixed lock order, so two writers
-- never deadlock), with the transaction's time, in one round trip. The no-op update is
-- what locks an existing row and returns it.
INSERT INTO recipient_health AS h (recipient_id, tokens)
SELECT id, :initial_tokens::double precision FROM unnest(:recipient_ids::text[]) AS u (id) ORDER BY id
ON CONFLICT (recipient_id) DO UPDATE SET recipient_id = h.recipient_id
RETURNING h.*, transaction_timestamp() AS transaction_time
