-- key_revoke: revoke a tenant's API key (again: no change).
-- KEYS: 1 the key's record (HASH)
-- ARGV: 1 tenant  2 now ms
-- Reply: {'revoked', created ms, revoked ms, role or ''} or {'missing'} (no such key of
-- this tenant)
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[1] then return {'missing'} end
redis.call('HSETNX', KEYS[1], 'revoked_ms', ARGV[2])
local record = redis.call('HMGET', KEYS[1], 'created_ms', 'revoked_ms', 'role')
return {'revoked', tonumber(record[1]), tonumber(record[2]), record[3] or ''}
