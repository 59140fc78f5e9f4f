SELECT pg_notify('backchannel_recipients', $1)
