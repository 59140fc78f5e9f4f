-- Only one replica wins the right to send the probe of an open (or stale half-open) circuit.
UPDATE recipient_health SET circuit_state = 'half_open', open_until = $2
WHERE recipient_id = $1 AND circuit_state IN ('open', 'half_open') AND open_until <= now()
RETURNING recipient_id
