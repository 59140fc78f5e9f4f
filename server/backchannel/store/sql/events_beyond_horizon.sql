-- Whether committed events exist that readers may not pass yet (a transaction older than
-- theirs is still running): the reader should look again shortly.
SELECT EXISTS (
    SELECT 1 FROM feedback_events WHERE xid >= pg_snapshot_xmin(pg_current_snapshot())
)
