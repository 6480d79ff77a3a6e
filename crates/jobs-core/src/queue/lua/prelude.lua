-- Shared by every queue script. All keys of one tenant share the hash tag {tenant}, and
-- a script about one tenant gets that tenant's keys in KEYS:
--   1 ready  2 delayed  3 leases  4 owner  5 all  6 cancel  7 finished  8 counters
--   9 s:queued  10 s:running  11 s:succeeded  12 s:failed  13 s:cancelled
--   14.. script-specific
-- The scripts of the worker (claim, finish_and_claim, sweep) serve every tenant: they get
-- the schedules in KEYS and bind a tenant's keys by name (`bind(tenant_keys(t))`) when
-- they come to it, so they need a single Redis, not a Cluster (docs/architecture.md).
-- The schedules are ZSETs of tenant names:
--   ring     when the tenant next has work to claim (ready now, or a delayed job's due)
--   expiry   when the tenant's earliest lease may expire
--   retain   when the tenant's earliest finished job was finished (for retention)
-- Replies are flat arrays of strings and integers, never nil: Spin flattens nested
-- arrays and (on 3.x) drops nil entries, which would shift positions.
local READY, DELAYED, LEASES, OWNER, ALL, CANCEL, FINISHED, COUNTERS
local STATUS = {}
-- The statuses a job ends in.
local FINAL = {succeeded = true, failed = true, cancelled = true}

-- The 13 keys of tenant `t`, in KEYS order (keys.rs names them the same way).
local function tenant_keys(t)
  local names = {'ready', 'delayed', 'leases', 'owner', 'all', 'cancel', 'finished',
    'counters', 's:queued', 's:running', 's:succeeded', 's:failed', 's:cancelled'}
  local out = {}
  for i, name in ipairs(names) do out[i] = 'aj:{' .. t .. '}:' .. name end
  return out
end

-- Make the 13 keys in `k` the ones the helpers below work on.
local function bind(k)
  READY, DELAYED, LEASES, OWNER = k[1], k[2], k[3], k[4]
  ALL, CANCEL, FINISHED, COUNTERS = k[5], k[6], k[7], k[8]
  STATUS = {
    queued = k[9], running = k[10], succeeded = k[11],
    failed = k[12], cancelled = k[13],
  }
end
if #KEYS >= 13 then bind(KEYS) end

-- The tenant whose keys are bound.
local function bound_tenant()
  return string.match(READY, '^aj:{(.-)}:ready$')
end

-- `id` of the bound tenant finished at `now`: it joins the retention index, and the
-- tenant's turn in `retain` comes no later than `now`.
local function finished_at(retain, id, now)
  redis.call('ZADD', FINISHED, now, id)
  redis.call('ZADD', retain, 'LT', now, bound_tenant())
end

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


-- The bound tenant's entry in `expiry` after its leases changed: its earliest lease
-- deadline, or none.
local function reexpire(expiry)
  local lease = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
  if lease[2] then
    redis.call('ZADD', expiry, lease[2], bound_tenant())
  else
    redis.call('ZREM', expiry, bound_tenant())
  end
end

-- The tenant `t` (bound) in the schedules, after its work changed: in `ring` at the end
-- of the turns due by `now` while it has ready jobs, else at its earliest delayed job's due time, else not at all;
-- in `expiry` at its earliest lease deadline, or not at all.
local function reschedule(ring, expiry, t, now)
  if redis.call('LLEN', READY) > 0 then
    -- After every tenant whose turn is due, even in the same ms: a 1/1024 ms step past
    -- the last of them (turns may run up to 1 ms ahead that way).
    local last = redis.call('ZREVRANGEBYSCORE', ring, now + 1, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local at = now
    if last[2] and last[1] ~= t and tonumber(last[2]) + 1 / 1024 > at then
      at = tonumber(last[2]) + 1 / 1024
    end
    redis.call('ZADD', ring, at, t)
  else
    local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
    if first[2] then redis.call('ZADD', ring, first[2], t) else redis.call('ZREM', ring, t) end
  end
  reexpire(expiry)
end

-- The first entry of a schedule as {name, score}, or nil when it is empty.
local function first_of(schedule)
  local head = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
  if head[1] then return {head[1], tonumber(head[2])} end
  return nil
end

-- claim: fair across tenants. Take the tenant whose turn is earliest (in `ring` or in
-- `expiry`, due by `now`), do its housekeeping, lease up to `max` of its oldest ready
-- jobs to `token` until `lease`, and put it back at the end of the turn order when it
-- has more. A tenant with nothing to claim after all (its entry was stale) is
-- rescheduled and the next is tried, at most 32 of them (max 0: nothing at all).
-- Reply: {'claimed', tenant, n, then n pairs: id, cancel requested 0|1}
--   or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
local function claim_jobs(ring, expiry, now, lease, token, max)
  if max < 1 then return {'empty', -1, -1} end
  -- Work queued before tenants had turns (one tenant, `default`) gets its turn here.
  if not first_of(ring) and not first_of(expiry) then
    bind(tenant_keys('default'))
    if redis.call('EXISTS', READY, DELAYED, LEASES) > 0 then
      reschedule(ring, expiry, 'default', now)
    end
  end
  for _ = 1, 32 do
    local a, b = first_of(ring), first_of(expiry)
    local turn = a
    if b and b[2] <= now and (not a or a[2] > now or b[2] < a[2]) then turn = b end
    if not turn or turn[2] > now then break end
    local t = turn[1]
    bind(tenant_keys(t))
    promote(now)
    local ids = redis.call('RPOP', READY, max)
    if ids then
      local reply = {'claimed', t, #ids}
      for _, id in ipairs(ids) do
        redis.call('ZADD', LEASES, lease, id)
        redis.call('HSET', OWNER, id, token)
        set_status(id, 'running')
        table.insert(reply, id)
        table.insert(reply, redis.call('SISMEMBER', CANCEL, id))
      end
      reschedule(ring, expiry, t, now)
      return reply
    end
    reschedule(ring, expiry, t, now)
  end
  local reply = {'empty'}
  for _, schedule in ipairs({ring, expiry}) do
    local head = first_of(schedule)
    table.insert(reply, head and head[2] or -1)
  end
  return reply
end

-- finish: the token's holder recorded a final state (one of FINAL); release the lease
-- (moving the tenant's entry in `expiry`) and index it as finished at `now` (in
-- `retain`). `dead` is '1' when the job failed for good. Reply: 'finished' or 'lost'.
local function finish_job(expiry, retain, id, token, status, now, dead)
  if not owns(id, token) then return 'lost' end
  redis.call('ZREM', LEASES, id)
  redis.call('HDEL', OWNER, id)
  redis.call('SREM', CANCEL, id)
  reexpire(expiry)
  set_status(id, status)
  finished_at(retain, id, now)
  if dead == '1' then redis.call('HINCRBY', COUNTERS, 'dead', 1) end
  return 'finished'
end
