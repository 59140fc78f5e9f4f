-- Hands back deliveries whose attempt never finished (shutdown): due now, the
-- unfinished attempt not counted.
UPDATE deliveries SET
    state = 'pending', attempt_count = attempt_count - 1, lease_until = NULL,
    lease_token = NULL, next_attempt_time = now(), update_time = now()
WHERE lease_token = ANY($1::uuid[]) AND state = 'in_flight'
