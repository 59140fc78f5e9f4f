SELECT lo_from_bytea(0, ''::bytea)
