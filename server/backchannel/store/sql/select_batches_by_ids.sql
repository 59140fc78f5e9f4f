SELECT * FROM batches WHERE id = ANY(:batch_ids::text[])
