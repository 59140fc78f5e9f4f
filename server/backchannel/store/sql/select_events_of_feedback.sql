SELECT * FROM feedback_events
WHERE feedback_id = :feedback_id AND category = 'transmission'
ORDER BY xid, seq
