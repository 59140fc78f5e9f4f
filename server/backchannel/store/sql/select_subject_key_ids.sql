-- Every ring key id a subject's data key is sealed under: one index probe per distinct
-- key id (a loose index scan), however many subjects there are.
WITH RECURSIVE ids AS (
    (SELECT key_id FROM subject_keys ORDER BY key_id LIMIT 1)
    UNION ALL
    SELECT (SELECT k.key_id FROM subject_keys k WHERE k.key_id > ids.key_id
            ORDER BY k.key_id LIMIT 1)
    FROM ids WHERE ids.key_id IS NOT NULL
)
SELECT key_id FROM ids WHERE key_id IS NOT NULL
