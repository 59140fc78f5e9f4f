SELECT lo_get(:oid::oid, :offset::bigint, :length::int)
