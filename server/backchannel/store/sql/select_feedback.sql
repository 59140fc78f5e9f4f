SELECT id, record FROM feedback WHERE id = $1
