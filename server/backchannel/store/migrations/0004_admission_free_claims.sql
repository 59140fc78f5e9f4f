-- Most claims need no admission step (no rate or concurrency limit, circuit closed) and
-- are made in one statement; these indexes answer cheaply whether any recipient needs
-- admission at all, so the slower claim runs only when one does.
CREATE INDEX recipients_limited ON recipients (id)
    WHERE delete_time IS NULL AND (max_per_second > 0 OR max_concurrency > 0);
CREATE INDEX recipient_health_circuit_not_closed ON recipient_health (recipient_id)
    WHERE circuit_state <> 'closed';
