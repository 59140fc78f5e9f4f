INSERT INTO feedback (
    id, request_id, request_digest, kind, lead_id, source_id, record, response,
    traceparent, accept_time
)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::bytea[],
    $8::bytea[], $9::text[], $10::timestamptz[]
)
ON CONFLICT (request_id) DO NOTHING
RETURNING request_id
