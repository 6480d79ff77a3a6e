-- retry: the token's holder failed transiently; queue the job again at a due time.
-- A cancel requested meanwhile wins: the job is finished as cancelled instead.
-- KEYS[14]: ring  KEYS[15]: retain  KEYS[16]: expiry
-- ARGV: 1 id  2 token  3 due ms  4 now ms
-- Reply: {'scheduled'} or {'cancelled'} or {'lost'}
local id = ARGV[1]
if not owns(id, ARGV[2]) then return {'lost'} end
redis.call('ZREM', LEASES, id)
redis.call('HDEL', OWNER, id)
reexpire(KEYS[16])
if redis.call('SREM', CANCEL, id) == 1 then
  set_status(id, 'cancelled')
  finished_at(KEYS[15], id, ARGV[4])
  return {'cancelled'}
end
redis.call('ZADD', DELAYED, ARGV[3], id)
redis.call('ZADD', KEYS[14], 'LT', ARGV[3], bound_tenant())
set_status(id, 'queued')
redis.call('HINCRBY', COUNTERS, 'retries', 1)
return {'scheduled'}
