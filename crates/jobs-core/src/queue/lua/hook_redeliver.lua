-- hook_redeliver: deliver a finished job's event again, from the first attempt.
-- ARGV: 1 id  2 now ms
-- Reply: {'queued', fields...}, {'pending', fields...} (a delivery is on its way already)
--        or {'none'} (the job has no event); fields: the delivery state as HGETALL gives
--        it, so the answer needs no second read
local id = ARGV[1]
local t = bound_tenant()
local h = hook_key(t, id)
local state = redis.call('HGET', h, 'state')
if not state then return {'none'} end
local outcome = 'pending'
if state ~= 'pending' then
  outcome = 'queued'
  if state == 'failed' then redis.call('HINCRBY', COUNTERS, 'hooks_failed', -1) end
  redis.call('HINCRBY', COUNTERS, 'hooks_pending', 1)
  redis.call('HSET', h, 'state', 'pending', 'attempts', 0, 'next_ms', ARGV[2])
  redis.call('HDEL', h, 'token', 'last_status', 'postponed')
  redis.call('ZADD', HOOKS, ARGV[2], t .. '/' .. id)
end
local reply = redis.call('HGETALL', h)
table.insert(reply, 1, outcome)
return reply
