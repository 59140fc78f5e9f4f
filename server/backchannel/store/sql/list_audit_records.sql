-- Audit records in the order they were written, after a position, that every condition of
-- the reader's filter holds for (each array holds the values of one field's conditions,
-- all of which must hold: `x = ALL('{}')` is true), and that the reader's grant lets it
-- see (NULL: not narrowed).
SELECT * FROM audit_records
WHERE seq > :after_seq
  AND actor = ALL(:actors::text[])
  AND action = ALL(:actions::text[])
  AND target = ALL(:targets::text[])
  AND create_time > ALL(:after_times::timestamptz[])
  AND create_time >= ALL(:from_times::timestamptz[])
  AND create_time < ALL(:before_times::timestamptz[])
  AND create_time <= ALL(:until_times::timestamptz[])
  AND (:recipient_ids::text[] IS NULL OR recipient_id = ANY(:recipient_ids::text[]))
  AND (:source_ids::text[] IS NULL OR source_id = ANY(:source_ids::text[]))
ORDER BY seq
LIMIT :limit
