-- submit: claim the idempotency key (if any), check the tenant's quota, write the job's
-- record (if given), enqueue, index, put the tenant in line (or in LATER), ring the
-- doorbell unless it is armed.
-- KEYS[14]: the kind's index  KEYS[15]: the tenant's settings (HASH)
-- KEYS[16]: idempotency key (optional)
-- ARGV: 1 id  2 now ms  3 due ms (<= now: ready at once)  4 doorbell channel
--       5 doorbell payload  6 idempotency value "{id} {fingerprint}"
--       7 most queued jobs when the tenant's settings name no `max_queued_jobs`
--       8 n, then n pairs: a key-value key and its value, written with the job (its
--         record when the store is this Redis: all of it or nothing)
--       9 + 2n the API key's record (HASH) when the key was not looked up for this
--         submission ('' or absent: it was), 10 + 2n the hash the caller's key matched
--       11 + 2n the retention cutoff (ms; absent: 0)
-- The idempotency key lives as long as its job: retention removes both (`forget`). A job
-- finished at or before the cutoff, its webhook delivery over, reads as gone before
-- retention removes it (context.rs `expired`): its key is free again, and the new job
-- takes it (`forget` then leaves the key to the new job).
-- Reply: {'queued'}, {'duplicate', existing idempotency value},
--        {'full', queued jobs, the limit} or {'key'} (the key is no longer as read)
local id, now, due = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local records = tonumber(ARGV[8])
local key = ARGV[9 + 2 * records]
if key and key ~= '' then
  -- As key_lookup and the caller's check would find it: this tenant's, this hash, not
  -- revoked, a role that may submit (none: a key from before roles).
  local k = redis.call('HMGET', key, 'tenant', 'hash', 'revoked_ms', 'role')
  if k[1] ~= bound_tenant() or k[2] ~= ARGV[10 + 2 * records] or k[3]
      or (k[4] and k[4] ~= '' and k[4] ~= 'full') then
    return {'key'}
  end
end
if KEYS[16] then
  -- Taken, unless retention has removed its job: a job finished before it was due (a
  -- delayed job cancelled) goes before its key does, and the key goes with it.
  local taken = redis.call('GET', KEYS[16])
  local held = taken and string.match(taken, '^%S*')
  if held and redis.call('ZSCORE', ALL, held) then
    local finished = tonumber(redis.call('ZSCORE', FINISHED, held))
    local cutoff = tonumber(ARGV[11 + 2 * records]) or 0
    local expired = finished and finished <= cutoff
      and not redis.call('ZSCORE', HOOKS, bound_tenant() .. '/' .. held)
    if not expired then return {'duplicate', taken} end
  end
end
local limit = tonumber(redis.call('HGET', KEYS[15], 'max_queued_jobs') or ARGV[7])
local queued = redis.call('ZCARD', STATUS.queued)
if queued >= limit then return {'full', queued, limit} end
if KEYS[16] then
  redis.call('SET', KEYS[16], ARGV[6])
  redis.call('HSET', idempotency_of(), id, KEYS[16])
end
if records > 0 then redis.call('MSET', unpack(ARGV, 9, 8 + 2 * records)) end
if due > now then
  redis.call('ZADD', DELAYED, due, id)
  redis.call('ZADD', LATER, 'LT', due, bound_tenant())
else
  redis.call('LPUSH', READY, id)
  queue_turn(bound_tenant())
end
redis.call('ZADD', ALL, 0, id)
redis.call('ZADD', KEYS[14], 0, id)
redis.call('SADD', kind_indexes(), KEYS[14])
-- A fresh id is in no status index yet: no need for set_status's removals.
redis.call('ZADD', STATUS.queued, 0, id)
-- Ring unless a drain will claim this job anyway (ARMED, in prelude.lua).
if redis.call('SET', ARMED, '1', 'NX', 'PX', ARMED_MS) then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return {'queued'}
