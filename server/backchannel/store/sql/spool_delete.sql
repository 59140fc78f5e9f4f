-- Removes a spool object (nothing when it is already gone).
SELECT lo_unlink(l.oid) FROM pg_largeobject_metadata l WHERE l.oid = :oid::oid
