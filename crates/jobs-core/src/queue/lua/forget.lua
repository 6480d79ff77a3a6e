-- forget: remove jobs from the queue and every index (retention, orphans), and move the
-- tenant's entry in RETAIN to its earliest finished job left.
-- KEYS[14..]: the index of every kind
-- ARGV: ids
-- Reply: {number forgotten}
for _, id in ipairs(ARGV) do
  forget(id)
  for i = 14, #KEYS do redis.call('ZREM', KEYS[i], id) end
end
local first = redis.call('ZRANGE', FINISHED, 0, 0, 'WITHSCORES')
if first[2] then
  redis.call('ZADD', RETAIN, first[2], bound_tenant())
else
  redis.call('ZREM', RETAIN, bound_tenant())
end
return {#ARGV}
