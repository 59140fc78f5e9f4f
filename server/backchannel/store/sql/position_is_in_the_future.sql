-- Whether a position names a transaction not yet started or a sequence number not yet
-- handed out: no event can ever be at or before it, so resuming after it would skip
-- events forever.
SELECT :xid::xid8 >= pg_snapshot_xmax(pg_current_snapshot())
    OR :seq::bigint > coalesce(
        (SELECT last_value FROM pg_sequences
         WHERE schemaname = current_schema() AND sequencename = 'feedback_events_seq_seq'),
        0)
