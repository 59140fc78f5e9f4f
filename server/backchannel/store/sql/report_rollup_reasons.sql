-- Returns per source and reason over [:start, :end); of :source_ids, or of every source
-- when :every_source.
SELECT source_id, reason, sum(return_count)::bigint AS return_count
FROM feedback_hourly_reasons
WHERE hour >= :start AND hour < :end
  AND (:every_source::boolean OR source_id = ANY(:source_ids::text[]))
GROUP BY source_id, reason
