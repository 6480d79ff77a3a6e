-- claim: housekeeping, then take the oldest ready job under a lease.
-- ARGV: 1 now ms  2 lease deadline ms  3 owner token
-- Reply: {'claimed', id, cancel requested 0|1}
--     or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
local now = tonumber(ARGV[1])
promote(now)
local id = redis.call('RPOP', READY)
if not id then
  local reply = {'empty'}
  for _, key in ipairs({DELAYED, LEASES}) do
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    table.insert(reply, first[2] and tonumber(first[2]) or -1)
  end
  return reply
end
redis.call('ZADD', LEASES, ARGV[2], id)
redis.call('HSET', OWNER, id, ARGV[3])
set_status(id, 'running')
return {'claimed', id, redis.call('SISMEMBER', CANCEL, id)}
