-- tenant_create: a new tenant, unless one of that name exists.
-- KEYS: 1 the tenant's settings (HASH)  2 the list of tenants (ZSET)
-- ARGV: 1 name  2 now ms  3 max queued jobs, or '' for the app-wide default
-- Reply: {'created'} or {'exists'}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
redis.call('HSET', KEYS[1], 'created_ms', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'max_queued_jobs', ARGV[3]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return {'created'}
