-- Stores a batch of accepted feedback and its deliveries in ONE statement (its own
-- transaction, one round trip, one commit). Feedback whose request id is already stored is
-- skipped, and so are its deliveries; so is feedback whose recipients were chosen from a
-- recipient directory older than the one this statement sees (:directory_version: the
-- directory version each feedback's recipients were chosen at; NULL: not checked). The
-- request ids stored are returned. A delivery's state is decided here, against its
-- recipient's committed state (a batch recipient's wait for its next batch).
WITH directory AS (
    SELECT version FROM recipient_directory_version
), new_feedback AS (
    INSERT INTO feedback (
        id, request_id, request_digest, kind, lead_id, source_id, record, response,
        traceparent, accept_time, origin_trace_id, tracestate
    )
    SELECT id, request_id, request_digest, kind, lead_id, source_id, record, response,
           traceparent, accept_time, origin_trace_id, tracestate
    FROM unnest(
        :id::text[], :request_id::text[], :request_digest::bytea[], :kind::text[],
        :lead_id::text[], :source_id::text[], :record::bytea[], :response::bytea[],
        :traceparent::text[], :accept_time::timestamptz[], :directory_version::bigint[],
        :origin_trace_id::text[], :tracestate::text[]
    ) AS f (
        id, request_id, request_digest, kind, lead_id, source_id, record, response,
        traceparent, accept_time, directory_version, origin_trace_id, tracestate
    )
    WHERE f.directory_version IS NULL
       OR f.directory_version = (SELECT version FROM directory)
    ON CONFLICT (request_id) DO NOTHING
    RETURNING id, request_id, lead_id, accept_time
), new_deliveries AS (
    INSERT INTO deliveries (
        id, feedback_id, recipient_id, lead_id, state, next_attempt_time, create_time,
        update_time, policy_start_time
    )
    SELECT d.id, f.id, d.recipient_id, f.lead_id,
           CASE
               WHEN r.delete_time IS NOT NULL THEN 'cancelled'
               WHEN r.batch IS NOT NULL THEN 'awaiting_batch'
               WHEN r.state = 'active' THEN 'pending'
               ELSE 'held'
           END,
           f.accept_time, f.accept_time, f.accept_time, f.accept_time
    FROM unnest(
        :delivery_id::text[], :delivery_feedback_id::text[], :delivery_recipient_id::text[]
    ) AS d (id, feedback_id, recipient_id)
    JOIN new_feedback f ON f.id = d.feedback_id
    JOIN recipients r ON r.id = d.recipient_id
    RETURNING id
)
-- NOTIFY is delivered at commit; identical notifications in one transaction fold into one.
SELECT f.request_id,
       (SELECT count(*) FROM new_deliveries) AS delivery_count,
       pg_notify('backchannel_deliveries', '') AS notified
FROM new_feedback f
