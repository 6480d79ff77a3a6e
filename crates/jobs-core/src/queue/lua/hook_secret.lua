-- hook_secret: a tenant's webhook signing secrets, setting `current` if it has none.
-- KEYS: 1 the tenant's secrets (HASH)
-- ARGV: 1 'init' (keep a current one), 'rotate' (current becomes previous) or 'end'
--       (drop the previous one)  2 a new secret (the current one of a tenant with none,
--       whatever the change)
-- Reply: {current, previous or ''}
if ARGV[1] == 'rotate' then
  local current = redis.call('HGET', KEYS[1], 'current')
  if current then redis.call('HSET', KEYS[1], 'previous', current) end
  redis.call('HSET', KEYS[1], 'current', ARGV[2])
elseif ARGV[1] == 'end' then
  redis.call('HDEL', KEYS[1], 'previous')
  redis.call('HSETNX', KEYS[1], 'current', ARGV[2])
else
  redis.call('HSETNX', KEYS[1], 'current', ARGV[2])
end
local s = redis.call('HMGET', KEYS[1], 'current', 'previous')
return {s[1] or '', s[2] or ''}
