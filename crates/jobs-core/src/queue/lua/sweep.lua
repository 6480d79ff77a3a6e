-- sweep: for retention, the tenant whose earliest finished job is oldest, if that one
-- finished at or before the cutoff, and up to `limit` of its ids finished by then,
-- oldest first. A job whose webhook delivery is still under way (in HOOKS) is kept: its
-- place in `finished` moves so that it comes up again just after the delivery's next
-- attempt (or the end of its lease), when the delivery may have ended. Else
-- read-only but for stale entries of RETAIN (a tenant with nothing finished), which are
-- moved on: the worker deletes the records, then forgets the ids (forget.lua), which
-- moves the tenant's entry on.
-- ARGV: 1 cutoff ms  2 limit  3 now ms
-- Reply: {tenant, ids...}, or {} when nothing finished by the cutoff
local cutoff, now = tonumber(ARGV[1]), tonumber(ARGV[3])
for _ = 1, 32 do
  local head = redis.call('ZRANGE', RETAIN, 0, 0, 'WITHSCORES')
  if not head[1] or tonumber(head[2]) > cutoff then return {} end
  local t = head[1]
  bind(tenant_keys(t))
  local due = redis.call('ZRANGEBYSCORE', FINISHED, '-inf', cutoff, 'LIMIT', 0, ARGV[2])
  local ids = {t}
  for _, id in ipairs(due) do
    local hook = redis.call('ZSCORE', HOOKS, t .. '/' .. id)
    if hook then
      redis.call('ZADD', FINISHED, math.max(tonumber(hook), now) - now + cutoff + 1, id)
    else
      table.insert(ids, id)
    end
  end
  if #ids > 1 then return ids end
  local first = redis.call('ZRANGE', FINISHED, 0, 0, 'WITHSCORES')
  if first[2] then redis.call('ZADD', RETAIN, first[2], head[1]) else redis.call('ZREM', RETAIN, head[1]) end
end
return {}
