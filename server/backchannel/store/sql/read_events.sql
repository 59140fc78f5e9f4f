-- Events after one position and at or before another, oldest first, that the reader's
-- filter wants. Only rows written by transactions older than every running one are read,
-- so a transaction that commits late can never land behind a position a reader has
-- already passed. The filter's predicate, made by store.events from the table of
-- filterable fields (backchannel.event_filter), replaces the marked line.
SELECT * FROM feedback_events e
WHERE (e.xid, e.seq) > (:after_xid::xid8, :after_seq::bigint)
  AND (e.xid, e.seq) <= (:up_to_xid::xid8, :up_to_seq::bigint)
  AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
  AND true -- the filter
ORDER BY e.xid, e.seq
LIMIT :limit
