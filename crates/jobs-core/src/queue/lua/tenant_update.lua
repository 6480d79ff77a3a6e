-- tenant_update: set (or clear, with '') a tenant's own max queued jobs.
-- KEYS: 1 the tenant's settings (HASH)
-- ARGV: 1 max queued jobs, or '' for the app-wide default
-- Reply: {'updated'} or {'missing'}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], 'max_queued_jobs')
else
  redis.call('HSET', KEYS[1], 'max_queued_jobs', ARGV[1])
end
return {'updated'}
