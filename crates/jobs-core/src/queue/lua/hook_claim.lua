-- hook_claim: lease up to `max` webhook deliveries that are due, every tenant's, oldest
-- first, to `token` until `lease` (a delivery not reported done by then is due again).
-- Each claim counts an attempt. A stale entry (a delivery no longer pending) is dropped.
-- ARGV: 1 now ms  2 lease deadline ms  3 token  4 max
-- Reply: {next due ms after these or -1, then per delivery: tenant, id, attempt,
--         times it was postponed (hook_done), current secret or '', previous secret or ''}
local out = {}
local due = redis.call('ZRANGEBYSCORE', HOOKS, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
for _, member in ipairs(due) do
  local t, id = string.match(member, '^([^/]+)/(.+)$')
  local h = t and hook_key(t, id)
  if not h or redis.call('HGET', h, 'state') ~= 'pending' then
    redis.call('ZREM', HOOKS, member)
  else
    -- While it is sent, the next attempt is due when the lease ends (if this one is
    -- never reported), and the delivery's state says so.
    redis.call('HSET', h, 'token', ARGV[3], 'next_ms', ARGV[2])
    local attempt = redis.call('HINCRBY', h, 'attempts', 1)
    redis.call('ZADD', HOOKS, ARGV[2], member)
    local postponed = tonumber(redis.call('HGET', h, 'postponed') or '0')
    local secrets = redis.call('HMGET', 'aj:{' .. t .. '}:whsec', 'current', 'previous')
    for _, v in ipairs({t, id, attempt, postponed, secrets[1] or '', secrets[2] or ''}) do
      table.insert(out, v)
    end
  end
end
local first = redis.call('ZRANGE', HOOKS, 0, 0, 'WITHSCORES')
table.insert(out, 1, first[2] and tonumber(first[2]) or -1)
return out
