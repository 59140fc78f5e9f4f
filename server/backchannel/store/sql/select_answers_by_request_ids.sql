SELECT request_id, request_digest, response FROM feedback WHERE request_id = ANY(:request_ids::text[])
