-- Events after one position and at or before another, oldest first. Only rows written by
-- transactions older than every running one are read, so a transaction that commits late
-- can never land behind a position a reader has already passed. Operator events (any
-- category but 'transmission') are selected by recipient only.
SELECT * FROM feedback_events e
WHERE (e.xid, e.seq) > ($1::xid8, $2::bigint)
  AND (e.xid, e.seq) <= ($3::xid8, $4::bigint)
  AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
  AND (cardinality($5::text[]) = 0 OR e.recipient_id = ANY($5::text[]))
  AND (
    (e.category = 'transmission' AND $17::boolean
      AND ($6::text IS NULL OR e.feedback_id = $6)
      AND ($7::text IS NULL OR e.delivery_id = $7)
      AND ($8::text IS NULL OR e.lead_id = $8)
      AND ($9::text IS NULL OR e.source_id = $9)
      AND ($10::text IS NULL OR e.transport = $10)
      AND (cardinality($11::text[]) = 0 OR e.processing_status = ANY($11::text[]))
      AND ($12::timestamptz IS NULL OR e.start_time > $12 OR ($13 AND e.start_time = $12))
      AND ($14::timestamptz IS NULL OR e.start_time < $14 OR ($15 AND e.start_time = $14)))
    OR (e.category <> 'transmission' AND $18::boolean)
  )
ORDER BY e.xid, e.seq
LIMIT $16
