-- hook_done: the holder of a delivery's lease reports how it went.
-- ARGV: 1 tenant  2 id  3 token  4 'delivered', 'retry', 'failed' or 'postponed'
--       5 last status or ''  6 next attempt ms (retry, postponed)  7 now ms
-- 'postponed': the event was not sent (the worker could not start it in time, or the
-- record was not final yet), so the claim's attempt is given back, and `postponed`
-- counts how often that happened; the last status stays.
-- Reply: {'done'} or {'lost'} (another worker holds it now, or it was redelivered)
local t, id = ARGV[1], ARGV[2]
local h = hook_key(t, id)
if redis.call('HGET', h, 'token') ~= ARGV[3] then return {'lost'} end
local counters = 'aj:{' .. t .. '}:counters'
redis.call('HDEL', h, 'token')
if ARGV[4] == 'postponed' then
  if tonumber(redis.call('HGET', h, 'attempts') or '0') > 0 then
    redis.call('HINCRBY', h, 'attempts', -1)
  end
  redis.call('HINCRBY', h, 'postponed', 1)
  redis.call('HSET', h, 'next_ms', ARGV[6])
  redis.call('ZADD', HOOKS, ARGV[6], t .. '/' .. id)
  return {'done'}
end
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
