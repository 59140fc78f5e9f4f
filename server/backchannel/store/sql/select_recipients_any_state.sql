-- Recipients by id as they are now, deleted ones included (deliveries claimed before a
-- delete are still sent with their recipient's settings).
SELECT * FROM recipients WHERE id = ANY(:recipient_ids::text[])
