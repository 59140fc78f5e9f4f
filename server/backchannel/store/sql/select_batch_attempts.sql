-- The events of a batch's file transmissions (not its members' own events).
SELECT * FROM feedback_events
WHERE batch_id = :batch_id AND feedback_id = '' AND category = 'transmission'
ORDER BY xid, seq
