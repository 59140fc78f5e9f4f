INSERT INTO audit_records (
    id, actor, actor_kind, actor_token_id, action, target, changes, details, request_id,
    trace_id, recipient_id, source_id
) VALUES (
    :id, :actor, :actor_kind, :actor_token_id, :action, :target, :changes, :details,
    :request_id, :trace_id, :recipient_id, :source_id
)
