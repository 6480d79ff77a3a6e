-- claim: housekeeping, then take up to `max` of the oldest ready jobs under a lease
-- (see claim_jobs).
-- ARGV: 1 now ms  2 lease deadline ms  3 owner token  4 max jobs
-- Reply: {'claimed', n, then n pairs: id, cancel requested 0|1}
--     or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
return claim_jobs(tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]))
