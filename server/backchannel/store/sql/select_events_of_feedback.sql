SELECT * FROM feedback_events WHERE feedback_id = $1 ORDER BY xid, seq
