-- How many deliveries are not finished, by state; pending ones split by whether they are
-- due. Reads the partial index of open deliveries only (deliveries_open_by_recipient).
SELECT count(*) FILTER (WHERE state = 'pending' AND next_attempt_time <= now()) AS pending_due,
       count(*) FILTER (WHERE state = 'pending' AND next_attempt_time > now()) AS pending_later,
       count(*) FILTER (WHERE state = 'in_flight') AS in_flight,
       count(*) FILTER (WHERE state = 'held') AS held
FROM deliveries
WHERE state IN ('pending', 'held', 'in_flight')
