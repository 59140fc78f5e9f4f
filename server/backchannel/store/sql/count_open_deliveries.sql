-- How many deliveries are not finished, by state; pending ones split by whether they are
-- due; and how long the oldest due one has been due (seconds, 0 when none is). Reads the
-- partial index of open deliveries only (deliveries_open_by_recipient).
SELECT count(*) FILTER (WHERE state = 'pending' AND next_attempt_time <= now()) AS pending_due,
       count(*) FILTER (WHERE state = 'pending' AND next_attempt_time > now()) AS pending_later,
       count(*) FILTER (WHERE state = 'in_flight') AS in_flight,
       count(*) FILTER (WHERE state = 'held') AS held,
       COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_time)
                FILTER (WHERE state = 'pending' AND next_attempt_time <= now())), 0)::float8
           AS oldest_due_seconds
FROM deliveries
WHERE state IN ('pending', 'held', 'in_flight')
