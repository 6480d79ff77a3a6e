-- sweep: for retention, the tenant whose earliest finished job is oldest, if that one
-- finished at or before the cutoff, and up to `limit` of its ids finished by then,
-- oldest first. Read-only but for stale entries of RETAIN (a tenant with nothing
-- finished), which are moved on: the worker deletes the records, then forgets the ids
-- (forget.lua), which moves the tenant's entry on.
-- ARGV: 1 cutoff ms  2 limit
-- Reply: {tenant, ids...}, or {} when nothing finished by the cutoff
for _ = 1, 32 do
  local head = redis.call('ZRANGE', RETAIN, 0, 0, 'WITHSCORES')
  if not head[1] or tonumber(head[2]) > tonumber(ARGV[1]) then return {} end
  bind(tenant_keys(head[1]))
  local ids = redis.call('ZRANGEBYSCORE', FINISHED, '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
  if #ids > 0 then
    table.insert(ids, 1, head[1])
    return ids
  end
  local first = redis.call('ZRANGE', FINISHED, 0, 0, 'WITHSCORES')
  if first[2] then redis.call('ZADD', RETAIN, first[2], head[1]) else redis.call('ZREM', RETAIN, head[1]) end
end
return {}
