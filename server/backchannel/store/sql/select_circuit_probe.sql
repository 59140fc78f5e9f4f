-- The delivery a recipient's circuit probe sends, locked for this claim: the longest-due
-- delivery of the lane asked for (retries when :prefer_retry, else first attempts), else
-- of the other lane. Successive probes alternate lanes, so a recipient that refuses one
-- kind (first attempts, say, when it takes an id only the second time) still closes its
-- circuit. With ordered delivery only the oldest open delivery of its lead may go.
SELECT d.id
FROM deliveries d
JOIN recipients r ON r.id = d.recipient_id
WHERE d.recipient_id = :recipient_id AND d.state = 'pending' AND d.next_attempt_time <= now()
  AND (NOT r.ordered_delivery OR NOT EXISTS (
      SELECT 1 FROM deliveries e
      WHERE e.recipient_id = d.recipient_id AND e.lead_id = d.lead_id
        AND e.state IN ('pending', 'held', 'in_flight')
        AND (e.create_time, e.id) < (d.create_time, d.id)
  ))
ORDER BY (d.attempt_count > 0) = :prefer_retry DESC, d.next_attempt_time, d.id
LIMIT 1
FOR UPDATE OF d SKIP LOCKED
