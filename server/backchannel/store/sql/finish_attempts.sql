-- Only the holder of the current lease may move the delivery on (lease_token fences).
UPDATE deliveries d SET
    state = u.state,
    next_attempt_time = COALESCE(u.next_attempt_time, d.next_attempt_time),
    lease_until = NULL,
    lease_token = NULL,
    requested_by = '',
    update_time = now()
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[])
     AS u (id, lease_token, state, next_attempt_time)
WHERE d.id = u.id AND d.lease_token = u.lease_token AND d.state = 'in_flight'
