-- Feedback counts and value sums per source, kind and currency over [:start, :end) from the
-- hourly rollups; of :source_ids, or of every source when :every_source.
SELECT source_id, kind, currency, sum(feedback_count)::bigint AS feedback_count,
       sum(value_count)::bigint AS value_count, sum(value_sum) AS value_sum
FROM feedback_hourly
WHERE hour >= :start AND hour < :end
  AND (:every_source::boolean OR source_id = ANY(:source_ids::text[]))
GROUP BY source_id, kind, currency
