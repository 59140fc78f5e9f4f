-- Members left out of their batch's file because the feedback does not grant the consent
-- the recipient requires end suppressed and leave the batch; their events name what was
-- missing.
UPDATE deliveries SET state = 'suppressed', batch_id = NULL, update_time = now()
WHERE id = ANY(:delivery_ids::text[]) AND state = 'in_batch'
