-- Due deliveries in the retry-attempt lane (deliveries_retry_due), locked for this claim. With ordered
-- delivery, only the oldest open delivery of each lead is a candidate. Recipients in $2
-- already have all the work this process can take for them.
SELECT d.id, d.recipient_id, r.max_per_second, r.burst, r.max_concurrency,
       h.circuit_state, h.open_until
FROM deliveries d
JOIN recipients r ON r.id = d.recipient_id
LEFT JOIN recipient_health h ON h.recipient_id = d.recipient_id
WHERE d.state = 'pending' AND r.state = 'active' AND r.delete_time IS NULL
  AND d.recipient_id <> ALL($2::text[]) AND d.attempt_count > 0 AND d.next_attempt_time <= now()
  AND (NOT r.ordered_delivery OR NOT EXISTS (
      SELECT 1 FROM deliveries e
      WHERE e.recipient_id = d.recipient_id AND e.lead_id = d.lead_id
        AND e.state IN ('pending', 'held', 'in_flight')
        AND (e.create_time, e.id) < (d.create_time, d.id)
  ))
ORDER BY d.next_attempt_time
LIMIT $1
FOR UPDATE OF d SKIP LOCKED
