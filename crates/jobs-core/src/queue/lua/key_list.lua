-- key_list: the API keys of a tenant, oldest first, at most 1000.
-- KEYS: 1 the tenant's settings (HASH)  2 the tenant's keys (ZSET)
-- Reply: {'missing'} or {'keys', then per key: id, created ms, revoked ms or -1}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local reply = {'keys'}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, 999)) do
  local record = redis.call('HMGET', 'aj:key:' .. id, 'created_ms', 'revoked_ms')
  table.insert(reply, id)
  table.insert(reply, tonumber(record[1] or 0))
  table.insert(reply, tonumber(record[2] or -1))
end
return reply
