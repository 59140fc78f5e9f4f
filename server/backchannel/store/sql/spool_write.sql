SELECT lo_put(:oid::oid, :offset::bigint, :data::bytea)
