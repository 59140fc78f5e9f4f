-- Quality score counts and sums per source and dimension ('' = overall) over
-- [:start, :end); of :source_ids, or of every source when :every_source.
SELECT source_id, dimension, sum(score_count)::bigint AS score_count,
       sum(score_sum) AS score_sum
FROM feedback_hourly_scores
WHERE hour >= :start AND hour < :end
  AND (:every_source::boolean OR source_id = ANY(:source_ids::text[]))
GROUP BY source_id, dimension
