-- Only one replica wins the right to send the probe of an open (or stale half-open) circuit.
UPDATE recipient_health SET circuit_state = 'half_open', open_until = :probe_lease_until
WHERE recipient_id = :recipient_id AND circuit_state IN ('open', 'half_open') AND open_until <= now()
RETURNING recipient_id
