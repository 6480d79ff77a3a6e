-- forget: remove jobs from the queue and every index (retention, orphans).
-- KEYS[14..]: the index of every kind
-- ARGV: ids
-- Reply: {number forgotten}
for _, id in ipairs(ARGV) do
  forget(id)
  for i = 14, #KEYS do redis.call('ZREM', KEYS[i], id) end
end
return {#ARGV}
