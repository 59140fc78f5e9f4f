-- Deletes audit records older than the retention (kept at least as long as events), in a
-- transaction that said allow_audit_pruning first (see migration 0005).
DELETE FROM audit_records WHERE create_time < :created_before
