-- Takes the admitted candidates with a short lease; the transaction ends right after, so
-- nothing is held while they are sent.
UPDATE deliveries d SET
    state = 'in_flight',
    attempt_count = d.attempt_count + 1,
    lease_until = now() + make_interval(secs => :lease_seconds),
    lease_token = gen_random_uuid(),
    update_time = now()
FROM feedback f LEFT JOIN subject_keys k ON k.feedback_id = f.id, recipients r
WHERE d.id = ANY(:delivery_ids::text[]) AND f.id = d.feedback_id AND r.id = d.recipient_id
RETURNING d.id AS delivery_id, d.feedback_id, d.attempt_count, d.lease_token::text,
          d.requested_by, d.policy_attempt_offset, d.policy_start_time,
          f.record, f.traceparent, f.tracestate, f.origin_trace_id, f.accept_time,
          f.subject_nonce, f.subject_ciphertext, k.key_id AS subject_key_id,
          k.nonce AS subject_key_nonce, k.wrapped_key AS subject_wrapped_key,
          r.id AS recipient_id,
          r.revision AS recipient_revision
