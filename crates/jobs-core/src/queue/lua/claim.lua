-- claim: lease up to `max` of the oldest ready jobs of the tenant first in line
-- (see claim_jobs).
-- ARGV: 1 now ms  2 lease deadline ms  3 owner token  4 max jobs
-- Reply: {'claimed', tenant, n, then n pairs: id, cancel requested 0|1}
--     or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
return claim_jobs(tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4]), false)
