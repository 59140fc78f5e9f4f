-- The first statement of a claim that admits deliveries: the transaction's time, and a
-- commit that does not wait for the disk (see claim_admission_free for why that is safe).
SELECT now() AS transaction_time, set_config('synchronous_commit', 'off', true)
