-- stats: counts for GET /stats, in one round trip.
-- ARGV: 1 now ms
-- Reply: {queued, running, succeeded, failed, cancelled, ready length, delayed, delayed
--         due, leases, leases expired, retries, dead, oldest ready id or '',
--         earliest due ms of an overdue delayed job or -1, webhook deliveries pending,
--         webhook deliveries failed}
local now = tonumber(ARGV[1])
local reply = {}
for _, name in ipairs({'queued', 'running', 'succeeded', 'failed', 'cancelled'}) do
  table.insert(reply, redis.call('ZCARD', STATUS[name]))
end
table.insert(reply, redis.call('LLEN', READY))
table.insert(reply, redis.call('ZCARD', DELAYED))
table.insert(reply, redis.call('ZCOUNT', DELAYED, '-inf', now))
table.insert(reply, redis.call('ZCARD', LEASES))
table.insert(reply, redis.call('ZCOUNT', LEASES, '-inf', now))
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'retries') or 0))
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'dead') or 0))
table.insert(reply, redis.call('LINDEX', READY, -1) or '')
local first = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
table.insert(reply, first[2] and tonumber(first[2]) or -1)
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'hooks_pending') or 0))
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'hooks_failed') or 0))
return reply
