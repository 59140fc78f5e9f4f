SELECT * FROM feedback_events
WHERE feedback_id = $1 AND category = 'transmission'
ORDER BY xid, seq
