-- finish: the token's holder recorded a final state; release the lease and index it.
-- ARGV: 1 id  2 token  3 final status (succeeded|failed|cancelled)  4 now ms
--       5 '1' when the job is dead (failed for good)
-- Reply: {'finished'} or {'lost'}
return {finish_job(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])}
