-- A worker that died (or hung) past its lease loses the delivery; it becomes due again
-- (held or cancelled if its recipient was paused, disabled or deleted meanwhile).
UPDATE deliveries d SET
    state = CASE
        WHEN r.delete_time IS NOT NULL THEN 'cancelled'
        WHEN r.state <> 'active' THEN 'held'
        ELSE 'pending'
    END,
    lease_until = NULL, lease_token = NULL, next_attempt_time = now(), update_time = now()
FROM recipients r
WHERE d.state = 'in_flight' AND d.lease_until < now() AND r.id = d.recipient_id
RETURNING d.id
