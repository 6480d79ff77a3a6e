-- hook_done: the holder of a delivery's lease reports how it went.
-- ARGV: 1 tenant  2 id  3 token  4 'delivered', 'retry' or 'failed'  5 last status or ''
--       6 next attempt ms (retry)  7 now ms
-- Reply: {'done'} or {'lost'} (another worker holds it now, or it was redelivered)
local t, id = ARGV[1], ARGV[2]
local h = hook_key(t, id)
if redis.call('HGET', h, 'token') ~= ARGV[3] then return {'lost'} end
local counters = 'aj:{' .. t .. '}:counters'
redis.call('HDEL', h, 'token')
if ARGV[5] ~= '' then redis.call('HSET', h, 'last_status', ARGV[5]) else redis.call('HDEL', h, 'last_status') end
if ARGV[4] == 'retry' then
  redis.call('HSET', h, 'next_ms', ARGV[6])
  redis.call('ZADD', HOOKS, ARGV[6], t .. '/' .. id)
  return {'done'}
end
redis.call('HSET', h, 'state', ARGV[4] == 'delivered' and 'delivered' or 'failed')
redis.call('HDEL', h, 'next_ms')
redis.call('ZREM', HOOKS, t .. '/' .. id)
redis.call('HINCRBY', counters, 'hooks_pending', -1)
if ARGV[4] ~= 'delivered' then redis.call('HINCRBY', counters, 'hooks_failed', 1) end
return {'done'}
