SELECT pg_notify('backchannel_deliveries', '')
