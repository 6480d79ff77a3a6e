-- forget: remove jobs from the queue and every index (retention, orphans), and move the
-- tenant's entry in RETAIN to its earliest finished job left.
-- KEYS[14..]: the index of every kind served now; the indexes the tenant's submissions
-- wrote to (`kind_indexes`) are cleared too, a kind no longer served among them.
-- ARGV: ids
-- Reply: {number forgotten}
local indexes, seen = {}, {}
for i = 14, #KEYS do
  seen[KEYS[i]] = true
  table.insert(indexes, KEYS[i])
end
for _, index in ipairs(redis.call('SMEMBERS', kind_indexes())) do
  if not seen[index] then table.insert(indexes, index) end
end
for _, id in ipairs(ARGV) do
  forget(id)
  for _, index in ipairs(indexes) do redis.call('ZREM', index, id) end
end
local first = redis.call('ZRANGE', FINISHED, 0, 0, 'WITHSCORES')
if first[2] then
  redis.call('ZADD', RETAIN, first[2], bound_tenant())
else
  redis.call('ZREM', RETAIN, bound_tenant())
end
return {#ARGV}
