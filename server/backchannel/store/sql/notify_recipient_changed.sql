SELECT pg_notify('backchannel_recipients', :recipient_id)
