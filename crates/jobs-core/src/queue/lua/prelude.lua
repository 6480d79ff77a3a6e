-- Shared by every queue script. All keys of one tenant share the hash tag {tenant}, and
-- a script about one tenant gets that tenant's keys in KEYS:
--   1 ready  2 delayed  3 leases  4 owner  5 all  6 cancel  7 finished  8 counters
--   9 s:queued  10 s:running  11 s:succeeded  12 s:failed  13 s:cancelled
--   14.. script-specific
-- The scripts of the worker (claim, finish_and_claim, sweep) serve every tenant: they bind
-- a tenant's keys by name (`bind(tenant_keys(t))`) when they come to it, so they need a
-- single Redis, not a Cluster (docs/architecture.md). So do the schedules every tenant
-- shares, named here (keys.rs names them the same way):
--   TURNS    ZSET tenant -> place in line: the tenants with ready jobs, served in turn
--            (a new place is one past the last, so the line needs no counter)
--   LATER    ZSET tenant -> ms: when the tenant's earliest delayed job is due
--   EXPIRY   ZSET tenant -> ms: when the tenant's earliest lease may expire
--   RETAIN   ZSET tenant -> ms: when the tenant's earliest finished job finished
--   HOOKS    ZSET 'tenant/id' -> ms: webhook deliveries due (or leased until then)
--   ARMED    STRING, expires after ARMED_MS: a submission rang the doorbell and no claim
--            has found the line empty since, so a drain will still claim what is
--            submitted meanwhile: submissions do not ring again (submit.lua)
-- A job's delivery state is the HASH aj:{tenant}:hook:{id} (`state` pending, delivered
-- or failed, `attempts`, `last_status`, `next_ms`, `token` while one is being sent,
-- `postponed`: claims that sent nothing, their attempts given back: hook_done.lua).
-- Replies are flat arrays of strings and integers, never nil: Spin flattens nested
-- arrays and (on 3.x) drops nil entries, which would shift positions.
local TURNS, LATER, EXPIRY, RETAIN = 'aj:turns', 'aj:later', 'aj:expiry', 'aj:retain'
local HOOKS, ARMED = 'aj:hooks', 'aj:armed'
-- How long ARMED stands at most (queue/mod.rs DOORBELL_ARMED_MS): a drain that rang it
-- and died, or a doorbell nobody heard, holds back later submissions' doorbells this long.
local ARMED_MS = 1000
local READY, DELAYED, LEASES, OWNER, ALL, CANCEL, FINISHED, COUNTERS
local STATUS = {}
-- Most jobs one claim leases.
local MAX_CLAIM = 1000
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
-- tenant's entry in RETAIN comes no later than `now`.
local function finished_at(id, now)
  redis.call('ZADD', FINISHED, now, id)
  redis.call('ZADD', RETAIN, 'LT', now, bound_tenant())
end

-- The delivery state of job `id` of tenant `t`.
local function hook_key(t, id)
  return 'aj:{' .. t .. '}:hook:' .. id
end

-- The bound tenant's job `id` finished at `now` with a callback URL: its event goes to
-- the outbox, due at once, in the same script that finished it.
local function enqueue_hook(id, now)
  local t = bound_tenant()
  local h = hook_key(t, id)
  if redis.call('HGET', h, 'state') ~= 'pending' then
    redis.call('HINCRBY', COUNTERS, 'hooks_pending', 1)
  end
  redis.call('HSET', h, 'state', 'pending', 'attempts', 0, 'next_ms', now)
  redis.call('HDEL', h, 'token', 'last_status', 'postponed')
  redis.call('ZADD', HOOKS, now, t .. '/' .. id)
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

-- READY holds the ready jobs, and the ids of jobs cancelled while ready: a cancel does
-- not take its id out (LREM reads the whole list, so cancelling a backlog would take
-- time in its square). A claim takes only the ids still queued, and the ids of jobs no
-- longer queued are dropped from the claiming end (`trim_ready`), so the job at that end
-- is a queued one, unless a run of more than TRIM_MAX such ids waits there. One script
-- passes over or drops TRIM_MAX such ids at most (`trim_left`), plus what one RPOP of
-- a batch brings: a cancelled backlog is cleared a step at a time, never in one long
-- script that would keep Redis from everyone else.
local TRIM_MAX = 1000
local trim_left = TRIM_MAX

-- Drop the ids of jobs no longer queued from the claiming end of the bound READY.
local function trim_ready()
  while trim_left > 0 do
    local last = redis.call('LINDEX', READY, -1)
    if not last or redis.call('ZSCORE', STATUS.queued, last) then return end
    redis.call('RPOP', READY)
    trim_left = trim_left - 1
  end
end

-- The bound tenant's HASH id -> the idempotency key its job took (keys.rs
-- `idempotency_of`): the key goes with the job.
local function idempotency_of()
  return 'aj:{' .. bound_tenant() .. '}:idem-of'
end

-- The bound tenant's SET of the kind indexes its submissions wrote to (keys.rs
-- `kind_indexes`): a kind's index is cleared by `forget` even once the kind is no longer
-- served.
local function kind_indexes()
  return 'aj:{' .. bound_tenant() .. '}:kinds'
end

-- Remove every trace of `id` from the queue and the indexes. A queued job's id may wait
-- in READY, and LREM reads the whole list: others (retention) leave it alone.
local function forget(id)
  if redis.call('ZSCORE', STATUS.queued, id) then
    -- It stands there once at most: LREM stops when it finds it.
    redis.call('LREM', READY, 1, id)
    trim_ready()
  end
  redis.call('ZREM', DELAYED, id)
  redis.call('ZREM', LEASES, id)
  redis.call('HDEL', OWNER, id)
  redis.call('ZREM', ALL, id)
  redis.call('SREM', CANCEL, id)
  redis.call('ZREM', FINISHED, id)
  for _, key in pairs(STATUS) do redis.call('ZREM', key, id) end
  local idem = redis.call('HGET', idempotency_of(), id)
  if idem then
    -- Only if it still names this job.
    local taken = redis.call('GET', idem)
    if taken and string.match(taken, '^%S*') == id then redis.call('DEL', idem) end
    redis.call('HDEL', idempotency_of(), id)
  end
  local t = bound_tenant()
  local h = hook_key(t, id)
  local state = redis.call('HGET', h, 'state')
  if state == 'pending' then redis.call('HINCRBY', COUNTERS, 'hooks_pending', -1) end
  if state == 'failed' then redis.call('HINCRBY', COUNTERS, 'hooks_failed', -1) end
  redis.call('DEL', h)
  redis.call('ZREM', HOOKS, t .. '/' .. id)
end

-- True when `token` holds the lease of `id`.
local function owns(id, token)
  return redis.call('HGET', OWNER, id) == token
end


-- The bound tenant's entry in EXPIRY after its leases changed: its earliest lease
-- deadline, or none.
local function reexpire()
  local lease = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
  if lease[2] then
    redis.call('ZADD', EXPIRY, lease[2], bound_tenant())
  else
    redis.call('ZREM', EXPIRY, bound_tenant())
  end
end

-- The place at the end of the line.
local function next_place()
  local last = redis.call('ZRANGE', TURNS, -1, -1, 'WITHSCORES')
  return (last[2] and tonumber(last[2]) or 0) + 1
end

-- Tenant `t` joins the end of the line, unless it is in line already.
local function queue_turn(t)
  if not redis.call('ZSCORE', TURNS, t) then
    redis.call('ZADD', TURNS, next_place(), t)
  end
end

-- The bound tenant `t` in the schedules after its work changed (it was just served, or
-- found to have nothing): at the end of the line while it has ready jobs, else out of
-- it; in LATER at its earliest delayed job; in EXPIRY at its earliest lease.
local function reschedule(t)
  if redis.call('LLEN', READY) > 0 then
    redis.call('ZADD', TURNS, next_place(), t)
  else
    redis.call('ZREM', TURNS, t)
  end
  local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
  if first[2] then redis.call('ZADD', LATER, first[2], t) else redis.call('ZREM', LATER, t) end
  reexpire()
end

-- The score of the first entry of a schedule, or -1 when it is empty.
local function first_score(schedule)
  local head = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
  return head[2] and tonumber(head[2]) or -1
end

-- The `default` tenant's work from before tenants had turns (an upgraded deployment)
-- joins the schedules, finished jobs included: checked on every claim while `default` is
-- not in line (a few reads), so no marker key is needed and nothing is missed.
local function adopt_default()
  if redis.call('ZSCORE', TURNS, 'default') then return end
  bind(tenant_keys('default'))
  if redis.call('LLEN', READY) > 0 then queue_turn('default') end
  if not redis.call('ZSCORE', LATER, 'default') then
    local first = redis.call('ZRANGE', DELAYED, 0, 0, 'WITHSCORES')
    if first[2] then redis.call('ZADD', LATER, first[2], 'default') end
  end
  if not redis.call('ZSCORE', EXPIRY, 'default') then reexpire() end
  if not redis.call('ZSCORE', RETAIN, 'default') then
    local first = redis.call('ZRANGE', FINISHED, 0, 0, 'WITHSCORES')
    if first[2] then redis.call('ZADD', RETAIN, first[2], 'default') end
  end
end

-- claim: fair across tenants. The tenants whose delayed jobs or leases came due by `now`
-- join the line; the tenant first in line does its housekeeping, leases up to `max` of
-- its oldest ready jobs to `token` until `lease`, and goes to the end of the line if it
-- has more. A tenant with nothing to claim after all (its jobs were cancelled) leaves the
-- line and the next is tried, at most 32 of them (max 0: nothing at all). A claim that
-- finds the line empty disarms the doorbell (ARMED). With `read`,
-- each claimed job's record comes too, read under its key-value key (keys.rs `job`) in
-- the same step: for a key-value store that is this Redis.
-- Reply: {'claimed', tenant, n, then n pairs: id, cancel requested 0|1}
--   (with `read`, n quadruples: id, cancel requested 0|1, record found 0|1, record or '')
--   or {'empty', ms when the next delayed job is due or -1, ms of the next lease expiry or -1}
--   (the first is `now` when tenants are still in line after 32 tries)
local function claim_jobs(now, lease, token, max, read)
  if max < 1 then return {'empty', -1, -1} end
  -- The batch's ids become the arguments of single commands: keep them well under
  -- what Lua's unpack takes.
  max = math.min(max, MAX_CLAIM)
  adopt_default()
  for _, schedule in ipairs({LATER, EXPIRY}) do
    for _, t in ipairs(redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, 100)) do
      queue_turn(t)
      redis.call('ZREM', schedule, t)
    end
  end
  for _ = 1, 32 do
    local head = redis.call('ZRANGE', TURNS, 0, 0)
    -- Past its share of cancelled ids a claim stops: the line is not empty, so it
    -- answers that work is due now, and the next claim goes on.
    if not head[1] or trim_left <= 0 then break end
    local t = head[1]
    bind(tenant_keys(t))
    promote(now)
    -- Only the jobs still queued: a job cancelled while ready left its id behind. The
    -- batch is filled up past such ids.
    local ids = {}
    while #ids < max and trim_left > 0 do
      local popped = redis.call('RPOP', READY, max - #ids)
      if not popped then break end
      local queued = redis.call('ZMSCORE', STATUS.queued, unpack(popped))
      for i, id in ipairs(popped) do
        if queued[i] then table.insert(ids, id) else trim_left = trim_left - 1 end
      end
    end
    trim_ready()
    if #ids > 0 then
      -- The batch moves from queued to running with one command per index, whatever
      -- its size.
      local leases, owners, running = {}, {}, {}
      for i, id in ipairs(ids) do
        leases[2 * i - 1], leases[2 * i] = lease, id
        owners[2 * i - 1], owners[2 * i] = id, token
        running[2 * i - 1], running[2 * i] = 0, id
      end
      redis.call('ZADD', LEASES, unpack(leases))
      redis.call('HSET', OWNER, unpack(owners))
      redis.call('ZREM', STATUS.queued, unpack(ids))
      redis.call('ZADD', STATUS.running, unpack(running))
      local cancel = redis.call('SMISMEMBER', CANCEL, unpack(ids))
      local records
      if read then
        local names = {}
        for i, id in ipairs(ids) do names[i] = 'j:' .. t .. ':' .. id end
        records = redis.call('MGET', unpack(names))
      end
      local reply = {'claimed', t, #ids}
      for i, id in ipairs(ids) do
        table.insert(reply, id)
        table.insert(reply, cancel[i])
        if read then
          -- A missing key is false here, and Spin drops nil entries: say it with a flag.
          table.insert(reply, records[i] and 1 or 0)
          table.insert(reply, records[i] or '')
        end
      end
      reschedule(t)
      return reply
    end
    reschedule(t)
  end
  local due = first_score(LATER)
  if redis.call('ZCARD', TURNS) > 0 then
    due = now
  else
    -- The line is empty: the next submission rings the doorbell again.
    redis.call('DEL', ARMED)
  end
  return {'empty', due, first_score(EXPIRY)}
end

-- finish: each job's lease holder recorded a final state (one of FINAL). Each job still
-- held by its token releases its lease and is indexed as finished at `now` (in RETAIN);
-- the others are lost. `jobs` is a list of {tenant, id, token, status, dead, hook[, key,
-- record]}: `dead` is '1' when the job failed for good, `hook` '1' when its event goes to
-- the outbox, and a held job's final record (a non-empty `key`) is written with its
-- finish. The jobs of one tenant are finished together, one command per index (a held
-- job is running: only a claim makes a holder, and every way out of running drops it).
-- A tenant in line with jobs finished here goes to the end of it again.
-- Reply: 'finished' or 'lost' for each job, in order.
local function finish_jobs(jobs, now)
  local outcome, tenants, of = {}, {}, {}
  for i, job in ipairs(jobs) do
    outcome[i] = 'lost'
    if not of[job[1]] then
      of[job[1]] = {}
      table.insert(tenants, job[1])
    end
    table.insert(of[job[1]], i)
  end
  for _, t in ipairs(tenants) do
    bind(tenant_keys(t))
    local ids = {}
    for k, i in ipairs(of[t]) do ids[k] = jobs[i][2] end
    local holders = redis.call('HMGET', OWNER, unpack(ids))
    local done, by_status, finished, dead, seen, records = {}, {}, {}, 0, {}, {}
    for k, i in ipairs(of[t]) do
      local id, token, status = jobs[i][2], jobs[i][3], jobs[i][4]
      -- The same job twice: the first finish releases it, so the second is lost.
      if holders[k] == token and not seen[id] then
        seen[id] = true
        outcome[i] = 'finished'
        table.insert(done, id)
        by_status[status] = by_status[status] or {}
        table.insert(by_status[status], 0)
        table.insert(by_status[status], id)
        table.insert(finished, now)
        table.insert(finished, id)
        if jobs[i][7] and jobs[i][7] ~= '' then
          table.insert(records, jobs[i][7])
          table.insert(records, jobs[i][8])
        end
        if jobs[i][5] == '1' then dead = dead + 1 end
        if jobs[i][6] == '1' then enqueue_hook(id, now) end
      end
    end
    if #records > 0 then redis.call('MSET', unpack(records)) end
    if #done > 0 then
      redis.call('ZREM', LEASES, unpack(done))
      redis.call('HDEL', OWNER, unpack(done))
      redis.call('SREM', CANCEL, unpack(done))
      redis.call('ZREM', STATUS.running, unpack(done))
      for status, entries in pairs(by_status) do
        redis.call('ZADD', STATUS[status], unpack(entries))
      end
      redis.call('ZADD', FINISHED, unpack(finished))
      redis.call('ZADD', RETAIN, 'LT', now, t)
      if dead > 0 then redis.call('HINCRBY', COUNTERS, 'dead', dead) end
      reexpire()
      -- Its claim put the tenant at the end of the line; a tenant that joined since stood
      -- behind it, and would wait for its next batch too. Its batch is back: behind them.
      if redis.call('ZSCORE', TURNS, t) then redis.call('ZADD', TURNS, next_place(), t) end
    end
  end
  return outcome
end
