-- A caller's trace reaches its delivery: the trace id of the request that accepted the
-- feedback (origin_trace_id) is kept on the feedback and on every event of its
-- deliveries, so a trace backend's trace id finds them (the events' filter
-- "origin_trace_id = ..."); the accepting request's tracestate is kept beside its
-- traceparent, to be forwarded with the outbound traceparent. Rows stored before keep
-- the trace id their traceparent names.
ALTER TABLE feedback
    ADD COLUMN origin_trace_id text NOT NULL DEFAULT '',
    ADD COLUMN tracestate text;
UPDATE feedback SET origin_trace_id = split_part(traceparent, '-', 2)
WHERE traceparent IS NOT NULL;
ALTER TABLE feedback_events ADD COLUMN origin_trace_id text NOT NULL DEFAULT '';
UPDATE feedback_events e SET origin_trace_id = f.origin_trace_id
FROM feedback f
WHERE f.id = e.feedback_id AND f.origin_trace_id <> '';
-- Like the other filterable fields: the filter's equality, in cursor order.
CREATE INDEX feedback_events_by_origin_trace ON feedback_events (origin_trace_id, xid, seq);
CREATE INDEX feedback_events_by_trace ON feedback_events (trace_id, xid, seq);
