-- claim: lease up to `max` of the oldest ready jobs of the tenant whose turn it is
-- (see claim_jobs).
-- KEYS: 1 ring  2 expiry
-- ARGV: 1 now ms  2 lease deadline ms  3 owner token  4 max jobs
-- Reply: {'claimed', tenant, n, then n pairs: id, cancel requested 0|1}
--     or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
return claim_jobs(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]))
