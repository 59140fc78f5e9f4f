SELECT request_id, request_digest, response FROM feedback WHERE request_id = ANY($1::text[])
