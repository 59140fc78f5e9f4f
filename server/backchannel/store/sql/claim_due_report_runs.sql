-- Due pending report runs of active recipients whose circuit lets deliveries through, each
-- taken for one attempt under a lease (one whose lease expired is 'in_flight' with an old
-- lease: taken again).
WITH due AS (
    SELECT x.id
    FROM report_runs x
    JOIN recipients r ON r.id = x.recipient_id
    LEFT JOIN recipient_health h ON h.recipient_id = x.recipient_id
    WHERE ((x.state = 'pending' AND x.next_attempt_time <= now())
           OR (x.state = 'in_flight' AND x.lease_until < now()))
      AND r.state = 'active' AND r.delete_time IS NULL
      AND (h.circuit_state IS NULL OR h.circuit_state = 'closed' OR h.open_until <= now())
    ORDER BY x.next_attempt_time
    LIMIT :limit
    FOR UPDATE OF x SKIP LOCKED
)
UPDATE report_runs x SET
    state = 'in_flight', attempt_count = x.attempt_count + 1,
    lease_until = now() + make_interval(secs => :lease_seconds),
    lease_token = gen_random_uuid(), update_time = now()
FROM due
WHERE x.id = due.id
RETURNING x.*, x.lease_token::text AS lease_text
