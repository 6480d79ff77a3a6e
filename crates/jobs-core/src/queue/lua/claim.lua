-- claim: housekeeping, then take the oldest ready job under a lease (see claim_job).
-- ARGV: 1 now ms  2 lease deadline ms  3 owner token
-- Reply: {'claimed', id, cancel requested 0|1}
--     or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
return claim_job(tonumber(ARGV[1]), ARGV[2], ARGV[3])
