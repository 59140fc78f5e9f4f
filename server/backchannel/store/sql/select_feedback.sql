SELECT id, record FROM feedback WHERE id = :feedback_id
