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
        traceparent, accept_time, origin_trace_id, tracestate, subject_nonce,
        subject_ciphertext
    )
    SELECT id, request_id, request_digest, kind, lead_id, source_id, record, response,
           traceparent, accept_time, origin_trace_id, tracestate, subject_nonce,
           subject_ciphertext
    FROM unnest(
        :id::text[], :request_id::text[], :request_digest::bytea[], :kind::text[],
        :lead_id::text[], :source_id::text[], :record::bytea[], :response::bytea[],
        :traceparent::text[], :accept_time::timestamptz[], :directory_version::bigint[],
        :origin_trace_id::text[], :tracestate::text[], :subject_nonce::bytea[],
        :subject_ciphertext::bytea[]
    ) AS f (
        id, request_id, request_digest, kind, lead_id, source_id, record, response,
        traceparent, accept_time, directory_version, origin_trace_id, tracestate,
        subject_nonce, subject_ciphertext
    )
    WHERE f.directory_version IS NULL
       OR f.directory_version = (SELECT version FROM directory)
    ON CONFLICT (request_id) DO NOTHING
    RETURNING id, request_id, lead_id, accept_time, source_id, kind
), new_subject_keys AS (
    -- Each sealed subject's data key, kept apart from it (crypto-shredding: see 0010).
    INSERT INTO subject_keys (feedback_id, lead_id, source_id, key_id, nonce, wrapped_key)
    SELECT f.id, f.lead_id, f.source_id, k.key_id, k.nonce, k.wrapped_key
    FROM unnest(
        :subject_feedback_id::text[], :subject_key_id::text[], :subject_key_nonce::bytea[],
        :subject_wrapped_key::bytea[]
    ) AS k (feedback_id, key_id, nonce, wrapped_key)
    JOIN new_feedback f ON f.id = k.feedback_id
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
-- The report rollups of the feedback stored (backchannel.report.facts), one row per
-- feedback in :fact_*, one per score in :score_*. Rows are grouped (one upsert touches a
-- row once) and taken in key order, so concurrent statements lock them in the same order.
), facts AS (
    SELECT f.source_id, x.hour, f.kind, x.currency, x.amount, x.reason
    FROM unnest(
        :fact_feedback_id::text[], :fact_hour::timestamptz[], :fact_currency::text[],
        :fact_amount::numeric[], :fact_reason::text[]
    ) AS x (feedback_id, hour, currency, amount, reason)
    JOIN new_feedback f ON f.id = x.feedback_id
), counted AS (
    INSERT INTO feedback_hourly AS h (
        source_id, hour, kind, currency, feedback_count, value_count, value_sum
    )
    SELECT source_id, hour, kind, currency, count(*), count(amount), coalesce(sum(amount), 0)
    FROM facts
    GROUP BY source_id, hour, kind, currency
    ORDER BY source_id, hour, kind, currency
    ON CONFLICT (source_id, hour, kind, currency) DO UPDATE SET
        feedback_count = h.feedback_count + excluded.feedback_count,
        value_count = h.value_count + excluded.value_count,
        value_sum = h.value_sum + excluded.value_sum
), reasons_counted AS (
    INSERT INTO feedback_hourly_reasons AS h (source_id, hour, reason, return_count)
    SELECT source_id, hour, reason, count(*)
    FROM facts
    WHERE reason <> ''
    GROUP BY source_id, hour, reason
    ORDER BY source_id, hour, reason
    ON CONFLICT (source_id, hour, reason) DO UPDATE SET
        return_count = h.return_count + excluded.return_count
), scores_counted AS (
    INSERT INTO feedback_hourly_scores AS h (source_id, hour, dimension, score_count, score_sum)
    SELECT f.source_id, s.hour, s.dimension, count(*), sum(s.score)
    FROM unnest(
        :score_feedback_id::text[], :score_hour::timestamptz[], :score_dimension::text[],
        :score_value::float8[]
    ) AS s (feedback_id, hour, dimension, score)
    JOIN new_feedback f ON f.id = s.feedback_id
    GROUP BY f.source_id, s.hour, s.dimension
    ORDER BY f.source_id, s.hour, s.dimension
    ON CONFLICT (source_id, hour, dimension) DO UPDATE SET
        score_count = h.score_count + excluded.score_count,
        score_sum = h.score_sum + excluded.score_sum
)
-- NOTIFY is delivered at commit; identical notifications in one transaction fold into one.
SELECT f.request_id,
       (SELECT count(*) FROM new_deliveries) AS delivery_count,
       pg_notify('backchannel_deliveries', '') AS notified
FROM new_feedback f
