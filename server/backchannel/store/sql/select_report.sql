-- A live report.
SELECT * FROM reports WHERE id = :id AND delete_time IS NULL
