-- Deletes events that started before :started_before and remembers the newest position deleted: a
-- cursor before it may have missed events, and is refused as too old.
WITH pruned AS (
    DELETE FROM feedback_events
    WHERE start_time < :started_before AND xid < pg_snapshot_xmin(pg_current_snapshot())
    RETURNING xid, seq
), newest AS (
    SELECT xid, seq FROM pruned ORDER BY xid DESC, seq DESC LIMIT 1
)
INSERT INTO event_retention AS r (pruned_xid, pruned_seq)
SELECT xid, seq FROM newest
ON CONFLICT (singleton) DO UPDATE SET
    pruned_xid = EXCLUDED.pruned_xid, pruned_seq = EXCLUDED.pruned_seq
WHERE (EXCLUDED.pruned_xid, EXCLUDED.pruned_seq) > (r.pruned_xid, r.pruned_seq)
RETURNING (SELECT count(*) FROM pruned)
