-- forget: remove jobs from the queue and every index (retention, orphans).
-- ARGV: ids
-- Reply: {number forgotten}
for _, id in ipairs(ARGV) do forget(id) end
return {#ARGV}
