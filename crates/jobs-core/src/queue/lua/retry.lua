-- retry: the token's holder failed transiently; queue the job again at a due time.
-- A cancel requested meanwhile wins: the job is finished as cancelled instead.
-- ARGV: 1 id  2 token  3 due ms  4 now ms  5 '1' when the job's event goes out
-- Reply: {'scheduled'} or {'cancelled'} or {'lost'}
local id = ARGV[1]
if not owns(id, ARGV[2]) then return {'lost'} end
redis.call('ZREM', LEASES, id)
redis.call('HDEL', OWNER, id)
reexpire()
if redis.call('SREM', CANCEL, id) == 1 then
  set_status(id, 'cancelled')
  finished_at(id, ARGV[4])
  if ARGV[5] == '1' then enqueue_hook(id, ARGV[4]) end
  return {'cancelled'}
end
redis.call('ZADD', DELAYED, ARGV[3], id)
redis.call('ZADD', LATER, 'LT', ARGV[3], bound_tenant())
set_status(id, 'queued')
redis.call('HINCRBY', COUNTERS, 'retries', 1)
return {'scheduled'}
