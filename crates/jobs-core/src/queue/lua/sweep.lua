-- sweep: ids of jobs finished at or before a cutoff, oldest first, for retention.
-- Read-only: the worker deletes their records, then forgets them (forget.lua).
-- ARGV: 1 cutoff ms  2 limit
-- Reply: ids
return redis.call('ZRANGEBYSCORE', FINISHED, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
