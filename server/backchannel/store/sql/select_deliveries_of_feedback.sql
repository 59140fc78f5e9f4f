SELECT id, feedback_id, recipient_id, state, attempt_count, next_attempt_time, create_time,
       update_time, batch_id
FROM deliveries WHERE feedback_id = :feedback_id ORDER BY create_time, id
