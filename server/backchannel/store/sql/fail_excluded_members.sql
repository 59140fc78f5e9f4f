-- Members left out of their batch's file (their rows failed validation) end failed and
-- leave the batch (its members are exactly the file's rows); their events name the batch.
UPDATE deliveries SET state = 'failed', batch_id = NULL, update_time = now()
WHERE id = ANY(:delivery_ids::text[]) AND state = 'in_batch'
