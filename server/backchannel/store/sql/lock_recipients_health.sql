-- Locks the health rows of the recipients in $1, in recipient id order (a fixed lock
-- order, so two writers never deadlock), with the transaction's time.
SELECT h.*, transaction_timestamp() AS transaction_time
FROM recipient_health h
WHERE h.recipient_id = ANY($1::text[])
ORDER BY h.recipient_id
FOR UPDATE
