-- key_lookup: what a request's API key names, and its tenant's queue against its quota,
-- so that a submission over the quota is refused before anything is written.
-- KEYS: 1 the key's record (HASH)
-- Reply: {} (no such key) or {tenant, hash, revoked 0|1, queued jobs, the tenant's own
--        max_queued_jobs or -1, role or '' (a key from before roles: full)}
local record = redis.call('HMGET', KEYS[1], 'tenant', 'hash', 'revoked_ms', 'role')
if not record[1] or not record[2] then return {} end
local t = record[1]
local queued = redis.call('ZCARD', 'aj:{' .. t .. '}:s:queued')
local max = redis.call('HGET', 'aj:{' .. t .. '}:tenant', 'max_queued_jobs')
return {t, record[2], record[3] and 1 or 0, queued, tonumber(max or -1), record[4] or ''}
