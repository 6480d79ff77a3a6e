-- forget: remove jobs from the queue and every index (retention, orphans), and move the
-- tenant's entry in RETAIN to its earliest finished job left.
-- KEYS[14..]: the index of every kind served now; the indexes the tenant's submissions
-- wrote to (`kind_indexes`) are cleared too, a kind no longer served among them, and
-- leave that set once empty (so retention leaves no key behind).
-- ARGV: ids
-- Reply: {number forgotten}
local indexes, seen = {}, {}
for i = 14, #KEYS do
  seen[KEYS[i]] = true
  table.insert(indexes, KEYS[i])
end
local used = redis.call('SMEMBERS', kind_indexes())
for _, index in ipairs(used) do
  if not seen[index] then table.insert(indexes, index) end
end
for _, id in ipairs(ARGV) do
  forget(id)
  for _, index in ipairs(indexes) do redis.call('ZREM', index, id) end
end
for _, index in ipairs(used) do
  if redis.call('EXISTS', index) == 0 then redis.call('SREM', kind_indexes(), index) end
end
local first = redis.call('ZRANGE', FINISHED, 0, 0, 'WITHSCORES')
if first[2] then
  redis.call('ZADD', RETAIN, first[2], bound_tenant())
else
  redis.call('ZREM', RETAIN, bound_tenant())
end
return {#ARGV}
