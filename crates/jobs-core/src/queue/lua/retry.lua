-- retry: the token's holder failed transiently; queue the job again at a due time.
-- A cancel requested meanwhile wins, but not here: nothing changes and the holder keeps
-- the lease, to write the cancelled record first and then finish the job as cancelled
-- (a record is final before its queue says so, as with every finish).
-- ARGV: 1 id  2 token  3 due ms
-- Reply: {'scheduled'} or {'cancel'} or {'lost'}
local id = ARGV[1]
if not owns(id, ARGV[2]) then return {'lost'} end
if redis.call('SISMEMBER', CANCEL, id) == 1 then return {'cancel'} end
redis.call('ZREM', LEASES, id)
redis.call('HDEL', OWNER, id)
reexpire()
redis.call('ZADD', DELAYED, ARGV[3], id)
redis.call('ZADD', LATER, 'LT', ARGV[3], bound_tenant())
set_status(id, 'queued')
redis.call('HINCRBY', COUNTERS, 'retries', 1)
return {'scheduled'}
