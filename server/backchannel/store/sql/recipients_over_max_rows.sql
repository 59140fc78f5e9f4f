-- Active batch recipients with a size trigger (max_rows) that have at least that many
-- feedback items waiting: their batch goes early. Counts stop at max_rows.
SELECT r.id
FROM recipients r
WHERE r.batch IS NOT NULL AND r.state = 'active' AND r.delete_time IS NULL
  AND coalesce((r.batch ->> 'max_rows')::int, 0) > 0
  AND (
      SELECT count(*) FROM (
          SELECT 1 FROM deliveries d
          WHERE d.recipient_id = r.id AND d.state = 'awaiting_batch'
          LIMIT (r.batch ->> 'max_rows')::int
      ) waiting
  ) >= (r.batch ->> 'max_rows')::int
