SELECT pg_notify('backchannel_events', '')
