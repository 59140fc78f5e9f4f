-- Claims, in ONE statement, due deliveries of recipients that need no admission step (no
-- rate or concurrency limit, circuit closed): up to :limit in the first-attempt lane, then
-- up to :retry_limit retries while the total stays within :limit; none for recipients in
-- :busy_recipients, which already have all the work this process can take for them; leases
-- of :lease_seconds seconds. With ordered delivery, only the oldest open delivery of each
-- lead is a candidate. There is always a row: when nothing is claimed its delivery_id is
-- NULL. needs_admission says whether any recipient needs the admission step
-- (claim_candidates_* and mark_claimed then run too).
--
-- The recipients that may be claimed for are listed first, so each lane is one walk of its
-- partial index in due order that stops after its limit: the work is that of the rows
-- claimed, however many are due. (Joined row by row to recipients and recipient_health, the
-- planner sorted every due delivery on each claim: 12 ms with 10,000 due.)
--
-- The claim commits without waiting for its WAL to reach the disk: a claim acknowledges
-- nothing. One lost with a crash of Postgres leaves its deliveries pending, to be claimed
-- again under the same attempt number and sent again: at least once, as when a lease is
-- lost, and a crash before an attempt is recorded loses its event either way. The durable
-- commit that records an attempt flushes its claim's WAL first (WAL is flushed in order).
-- Saves a disk flush (0.3-1 ms here) per claim, which the claim loop used to wait out.
-- Recipients come back as (id, revision): the dispatcher reads each revision once.
WITH asynchronous_commit AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true)
), eligible AS MATERIALIZED (
    SELECT coalesce(array_agg(r.id), '{}') AS ids,
           coalesce(array_agg(r.id) FILTER (WHERE r.ordered_delivery), '{}') AS ordered_ids
    FROM recipients r
    LEFT JOIN recipient_health h ON h.recipient_id = r.id
    WHERE r.state = 'active' AND r.delete_time IS NULL
      AND r.max_per_second = 0 AND r.max_concurrency = 0
      AND coalesce(h.circuit_state, 'closed') = 'closed'
      AND r.id <> ALL(:busy_recipients::text[])
), first_lane AS (
    SELECT d.id
    FROM deliveries d
    WHERE d.state = 'pending' AND d.attempt_count = 0 AND d.next_attempt_time <= now()
      AND d.recipient_id = ANY((SELECT ids FROM eligible)::text[])
      AND (d.recipient_id <> ALL((SELECT ordered_ids FROM eligible)::text[]) OR NOT EXISTS (
          SELECT 1 FROM deliveries e
          WHERE e.recipient_id = d.recipient_id AND e.lead_id = d.lead_id
            AND e.state IN ('pending', 'held', 'in_flight')
            AND (e.create_time, e.id) < (d.create_time, d.id)
      ))
    ORDER BY d.next_attempt_time
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
), retry_lane AS (
    SELECT d.id
    FROM deliveries d
    WHERE d.state = 'pending' AND d.attempt_count > 0 AND d.next_attempt_time <= now()
      AND d.recipient_id = ANY((SELECT ids FROM eligible)::text[])
      AND (d.recipient_id <> ALL((SELECT ordered_ids FROM eligible)::text[]) OR NOT EXISTS (
          SELECT 1 FROM deliveries e
          WHERE e.recipient_id = d.recipient_id AND e.lead_id = d.lead_id
            AND e.state IN ('pending', 'held', 'in_flight')
            AND (e.create_time, e.id) < (d.create_time, d.id)
      ))
    ORDER BY d.next_attempt_time
    LIMIT greatest(
        0, least(:retry_limit::int, :limit::int - (SELECT count(*) FROM first_lane))
    )
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE deliveries d SET
        state = 'in_flight',
        attempt_count = d.attempt_count + 1,
        lease_until = now() + make_interval(secs => :lease_seconds),
        lease_token = gen_random_uuid(),
        update_time = now()
    FROM feedback f LEFT JOIN subject_keys k ON k.feedback_id = f.id, recipients r
    -- An array, not IN (...): the rows are fetched by primary key, not by a hash join
    -- over the whole table.
    WHERE d.id = ANY(ARRAY(SELECT id FROM first_lane UNION ALL SELECT id FROM retry_lane))
      AND f.id = d.feedback_id AND r.id = d.recipient_id
    RETURNING d.id AS delivery_id, d.feedback_id, d.attempt_count, d.lease_token::text,
              d.requested_by, d.policy_attempt_offset, d.policy_start_time,
              f.record, f.traceparent, f.tracestate, f.origin_trace_id, f.accept_time,
              f.subject_nonce, f.subject_ciphertext, k.key_id AS subject_key_id,
              k.nonce AS subject_key_nonce, k.wrapped_key AS subject_wrapped_key,
              r.id AS recipient_id,
              r.revision AS recipient_revision
)
SELECT claimed.*, admission.needs_admission
FROM asynchronous_commit, (
    SELECT EXISTS (SELECT 1 FROM recipients WHERE delete_time IS NULL
                     AND (max_per_second > 0 OR max_concurrency > 0))
        OR EXISTS (SELECT 1 FROM recipient_health WHERE circuit_state <> 'closed')
        AS needs_admission
) admission
LEFT JOIN claimed ON true
