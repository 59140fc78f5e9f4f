-- A batch recipient's schedule, new or changed: next due at :next_run_at.
INSERT INTO batch_schedules (recipient_id, next_run_at) VALUES (:recipient_id, :next_run_at)
ON CONFLICT (recipient_id) DO UPDATE SET next_run_at = EXCLUDED.next_run_at
