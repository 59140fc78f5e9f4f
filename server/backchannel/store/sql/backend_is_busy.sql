-- Whether the server process :pid (a connection that was lost mid-statement) is still
-- running a statement or holds a transaction open. Once it is idle or gone, whatever it
-- was committing has landed or never will, and a lookup tells which.
SELECT EXISTS (
    SELECT 1 FROM pg_stat_activity WHERE pid = :pid AND state IS DISTINCT FROM 'idle'
)
