-- A worker that died (or hung) past its lease loses the delivery; it becomes due again.
UPDATE deliveries SET
    state = 'pending', lease_until = NULL, lease_token = NULL,
    next_attempt_time = now(), update_time = now()
WHERE state = 'in_flight' AND lease_until < now()
RETURNING id
