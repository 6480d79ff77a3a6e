-- stats: counts for GET /stats, in one round trip.
-- ARGV: 1 now ms  2 minutes of throughput
-- Reply: {queued, running, succeeded, failed, cancelled, ready (queued, not delayed), delayed, delayed
--         due, leases, leases expired, retries, dead, oldest ready id or '',
--         earliest due ms of an overdue delayed job or -1, webhook deliveries pending,
--         webhook deliveries failed, then per minute, oldest first and the current
--         (partial) one last: its start ms, jobs submitted in it, jobs finished in it}
-- The throughput is read from the indexes, no counter is written for it: `submitted`
-- counts the ids of ALL made in the minute (an id's first 13 characters are its ms in
-- hex, so the minute's ids lie between the prefixes of its start and its end), and
-- `finished` the entries of FINISHED (scored by finish time) in it. Minutes before the
-- epoch are left out.
local now = tonumber(ARGV[1])
local reply = {}
for _, name in ipairs({'queued', 'running', 'succeeded', 'failed', 'cancelled'}) do
  table.insert(reply, redis.call('ZCARD', STATUS[name]))
end
-- Every queued job is ready or delayed (READY also holds ids of jobs cancelled there).
table.insert(reply, redis.call('ZCARD', STATUS.queued) - redis.call('ZCARD', DELAYED))
table.insert(reply, redis.call('ZCARD', DELAYED))
table.insert(reply, redis.call('ZCOUNT', DELAYED, '-inf', now))
table.insert(reply, redis.call('ZCARD', LEASES))
table.insert(reply, redis.call('ZCOUNT', LEASES, '-inf', now))
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'retries') or 0))
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'dead') or 0))
-- The oldest ready job stands at the claiming end, unless ids of jobs cancelled while
-- ready stand there (prelude: trim_ready): then the queued one nearest that end among
-- the last TRIM_MAX.
local oldest = redis.call('LINDEX', READY, -1)
if oldest and not redis.call('ZSCORE', STATUS.queued, oldest) then
  oldest = nil
  local tail = redis.call('LRANGE', READY, -TRIM_MAX, -1)
  local queued = redis.call('ZMSCORE', STATUS.queued, unpack(tail))
  for i = #tail, 1, -1 do
    if queued[i] then
      oldest = tail[i]
      break
    end
  end
end
table.insert(reply, oldest or '')
local first = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
table.insert(reply, first[2] and tonumber(first[2]) or -1)
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'hooks_pending') or 0))
table.insert(reply, tonumber(redis.call('HGET', COUNTERS, 'hooks_failed') or 0))

-- The first 13 characters of the ids made at `ms`: `xxxxxxxx-xxxx`, 12 hex digits.
local function id_prefix(ms)
  return string.format('%08x-%04x', math.floor(ms / 65536), ms % 65536)
end
local minute = 60000
local current = now - now % minute
for back = tonumber(ARGV[2]) - 1, 0, -1 do
  local start = current - back * minute
  if start >= 0 then
    local stop = start + minute
    table.insert(reply, start)
    table.insert(reply, redis.call('ZLEXCOUNT', ALL, '[' .. id_prefix(start), '(' .. id_prefix(stop)))
    -- %d: a number in a command is written with 14 significant digits at most.
    table.insert(reply, redis.call('ZCOUNT', FINISHED, string.format('%d', start),
      string.format('(%d', stop)))
  end
end
return reply
