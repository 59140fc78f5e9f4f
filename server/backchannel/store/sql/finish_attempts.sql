-- Only the holder of the current lease may move the delivery on (lease_token fences). A
-- retry of a recipient paused, disabled or deleted meanwhile is held or cancelled.
UPDATE deliveries d SET
    state = CASE
        WHEN u.state <> 'pending' THEN u.state
        WHEN r.delete_time IS NOT NULL THEN 'cancelled'
        WHEN r.state <> 'active' THEN 'held'
        ELSE 'pending'
    END,
    next_attempt_time = COALESCE(u.next_attempt_time, d.next_attempt_time),
    lease_until = NULL,
    lease_token = NULL,
    requested_by = '',
    update_time = now()
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[])
     AS u (id, lease_token, state, next_attempt_time), recipients r
WHERE d.id = u.id AND d.lease_token = u.lease_token AND d.state = 'in_flight'
  AND r.id = d.recipient_id
