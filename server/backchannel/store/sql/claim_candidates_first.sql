-- Due deliveries in the first-attempt lane (deliveries_first_due), locked for this claim.
-- With ordered delivery, only the oldest open delivery of each lead is a candidate.
-- Recipients in :busy_recipients already have all the work this process can take for them.
-- The live recipients are listed first so the lane is one walk of its index in due order,
-- stopping at :limit (see claim_admission_free).
WITH live AS MATERIALIZED (
    SELECT coalesce(array_agg(r.id), '{}') AS ids,
           coalesce(array_agg(r.id) FILTER (WHERE r.ordered_delivery), '{}') AS ordered_ids
    FROM recipients r
    WHERE r.state = 'active' AND r.delete_time IS NULL
      AND r.id <> ALL(:busy_recipients::text[])
), due AS (
    SELECT d.id, d.recipient_id, d.next_attempt_time, d.attempt_count
    FROM deliveries d
    WHERE d.state = 'pending' AND d.attempt_count = 0 AND d.next_attempt_time <= now()
      AND d.recipient_id = ANY((SELECT ids FROM live)::text[])
      AND (d.recipient_id <> ALL((SELECT ordered_ids FROM live)::text[]) OR NOT EXISTS (
          SELECT 1 FROM deliveries e
          WHERE e.recipient_id = d.recipient_id AND e.lead_id = d.lead_id
            AND e.state IN ('pending', 'held', 'in_flight')
            AND (e.create_time, e.id) < (d.create_time, d.id)
      ))
    ORDER BY d.next_attempt_time
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
)
SELECT due.id, due.recipient_id, due.attempt_count, r.max_per_second, r.burst,
       r.max_concurrency, h.circuit_state, h.open_until, h.open_count
FROM due
JOIN recipients r ON r.id = due.recipient_id
LEFT JOIN recipient_health h ON h.recipient_id = due.recipient_id
ORDER BY due.next_attempt_time
