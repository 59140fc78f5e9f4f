-- The circuit state of every live recipient (closed for one that has no health yet).
SELECT r.id AS recipient_id, COALESCE(h.circuit_state, 'closed') AS circuit_state
FROM recipients r LEFT JOIN recipient_health h ON h.recipient_id = r.id
WHERE r.delete_time IS NULL
