-- Lets this transaction, and only it, delete audit records past their retention: the
-- append-only trigger of audit_records refuses every other UPDATE and DELETE. A role
-- granted INSERT and SELECT alone still cannot (the records are then kept).
SELECT set_config('backchannel.audit_pruning', 'on', true)
