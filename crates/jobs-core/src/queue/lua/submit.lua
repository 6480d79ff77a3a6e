-- submit: claim the idempotency key (if any), enqueue, index, ring the doorbell.
-- KEYS[14]: the kind's index  KEYS[15]: idempotency key (optional)
-- ARGV: 1 id  2 now ms  3 due ms (<= now: ready at once)  4 doorbell channel
--       5 doorbell payload  6 idempotency value "{id} {fingerprint}"  7 idempotency ttl ms
-- Reply: {'queued'} or {'duplicate', existing idempotency value}
local id, now, due = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if KEYS[15] then
  if not redis.call('SET', KEYS[15], ARGV[6], 'NX', 'PX', ARGV[7]) then
    return {'duplicate', redis.call('GET', KEYS[15]) or ''}
  end
end
if due > now then
  redis.call('ZADD', DELAYED, due, id)
else
  redis.call('LPUSH', READY, id)
end
redis.call('ZADD', ALL, 0, id)
redis.call('ZADD', KEYS[14], 0, id)
-- A fresh id is in no status index yet: no need for set_status's removals.
redis.call('ZADD', STATUS.queued, 0, id)
redis.call('PUBLISH', ARGV[4], ARGV[5])
return {'queued'}
