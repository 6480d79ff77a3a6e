-- key_list: the API keys of a tenant, oldest first, at most 1000.
-- KEYS: 1 the tenant's settings (HASH)  2 the tenant's keys (ZSET)
-- Reply: {'missing'} or {'keys', then per key: id, created ms, revoked ms or -1, role or ''}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local reply = {'keys'}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, 999)) do
  local record = redis.call('HMGET', 'aj:key:' .. id, 'created_ms', 'revoked_ms', 'role')
  table.insert(reply, id)
  table.insert(reply, tonumber(record[1] or 0))
  table.insert(reply, tonumber(record[2] or -1))
  table.insert(reply, record[3] or '')
end
return reply
