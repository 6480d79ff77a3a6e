-- Shared by every queue script. All keys of one tenant share the hash tag {tenant}, so
-- each script touches one Redis Cluster slot, and every key is passed in KEYS:
--   1 ready  2 delayed  3 leases  4 owner  5 all  6 cancel  7 finished  8 counters
--   9 s:queued  10 s:running  11 s:succeeded  12 s:failed  13 s:cancelled
--   14.. script-specific
-- Replies are flat arrays of strings and integers, never nil: Spin flattens nested
-- arrays and (on 3.x) drops nil entries, which would shift positions.
local READY, DELAYED, LEASES, OWNER = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ALL, CANCEL, FINISHED, COUNTERS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local STATUS = {
  queued = KEYS[9], running = KEYS[10], succeeded = KEYS[11],
  failed = KEYS[12], cancelled = KEYS[13],
}

-- Move `id` into exactly one status index.
local function set_status(id, status)
  for name, key in pairs(STATUS) do
    if name ~= status then redis.call('ZREM', key, id) end
  end
  redis.call('ZADD', STATUS[status], 0, id)
end

-- The status index that holds `id`, or '' when none does.
local function status_of(id)
  for name, key in pairs(STATUS) do
    if redis.call('ZSCORE', key, id) then return name end
  end
  return ''
end

-- Due delayed jobs and expired leases go back to `ready`, at the claiming end (RPUSH):
-- they have waited their turn already.
local function promote(now)
  local due = redis.call('ZRANGEBYSCORE', DELAYED, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', DELAYED, id)
    redis.call('RPUSH', READY, id)
  end
  local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    redis.call('ZREM', LEASES, id)
    redis.call('HDEL', OWNER, id)
    redis.call('RPUSH', READY, id)
    set_status(id, 'queued')
  end
end

-- Remove every trace of `id` from the queue and the indexes.
local function forget(id)
  redis.call('LREM', READY, 0, id)
  redis.call('ZREM', DELAYED, id)
  redis.call('ZREM', LEASES, id)
  redis.call('HDEL', OWNER, id)
  redis.call('ZREM', ALL, id)
  redis.call('SREM', CANCEL, id)
  redis.call('ZREM', FINISHED, id)
  for _, key in pairs(STATUS) do redis.call('ZREM', key, id) end
end

-- True when `token` holds the lease of `id`.
local function owns(id, token)
  return redis.call('HGET', OWNER, id) == token
end


-- claim: housekeeping, then lease up to `max` of the oldest ready jobs to `token` until
-- `lease` (max 0: nothing, not even housekeeping).
-- Reply: {'claimed', n, then n pairs: id, cancel requested 0|1}
--   or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
local function claim_jobs(now, lease, token, max)
  if max < 1 then return {'empty', -1, -1} end
  promote(now)
  local ids = redis.call('RPOP', READY, max)
  if not ids then
    local reply = {'empty'}
    for _, key in ipairs({DELAYED, LEASES}) do
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      table.insert(reply, first[2] and tonumber(first[2]) or -1)
    end
    return reply
  end
  local reply = {'claimed', #ids}
  for _, id in ipairs(ids) do
    redis.call('ZADD', LEASES, lease, id)
    redis.call('HSET', OWNER, id, token)
    set_status(id, 'running')
    table.insert(reply, id)
    table.insert(reply, redis.call('SISMEMBER', CANCEL, id))
  end
  return reply
end
-- finish: the token's holder recorded a final state; release the lease and index it.
-- `dead` is '1' when the job failed for good. Reply: 'finished' or 'lost'; raises an
-- error (before changing anything) for a status that is not final.
local function finish_job(id, token, status, now, dead)
  if not STATUS[status] or status == 'queued' or status == 'running' then
    error('finish: not a final status: ' .. tostring(status))
  end
  if not owns(id, token) then return 'lost' end
  redis.call('ZREM', LEASES, id)
  redis.call('HDEL', OWNER, id)
  redis.call('SREM', CANCEL, id)
  set_status(id, status)
  redis.call('ZADD', FINISHED, now, id)
  if dead == '1' then redis.call('HINCRBY', COUNTERS, 'dead', 1) end
  return 'finished'
end
