-- hook_secret: a tenant's webhook signing secrets, setting `current` if it has none.
-- KEYS: 1 the tenant's secrets (HASH)
-- ARGV: 1 'init' (keep a current one), 'rotate' (current becomes previous) or 'end'
--       (drop the previous one)  2 a new secret (the current one of a tenant with none,
--       whatever the change)
--       A rotation while one is under way (a previous secret is kept) changes nothing:
--       another would drop a secret receivers may still verify with (a retried request
--       whose answer was lost, say); 'end' finishes the one under way first.
-- Reply: {'set' or 'rotating' (refused, as above), current, previous or ''}
if ARGV[1] == 'rotate' then
  local s = redis.call('HMGET', KEYS[1], 'current', 'previous')
  if s[2] then return {'rotating', s[1] or '', s[2]} end
  if s[1] then redis.call('HSET', KEYS[1], 'previous', s[1]) end
  redis.call('HSET', KEYS[1], 'current', ARGV[2])
elseif ARGV[1] == 'end' then
  redis.call('HDEL', KEYS[1], 'previous')
  redis.call('HSETNX', KEYS[1], 'current', ARGV[2])
else
  redis.call('HSETNX', KEYS[1], 'current', ARGV[2])
end
local s = redis.call('HMGET', KEYS[1], 'current', 'previous')
return {'set', s[1] or '', s[2] or ''}
