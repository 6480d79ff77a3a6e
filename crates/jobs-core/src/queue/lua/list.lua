-- list: a page of ids from one index, newest first, within a range of ids; with a second
-- index, only the ids that are in it too (a kind's jobs in one status).
-- KEYS[14]: the index (score 0, lex order of UUIDv7 ids = time order)
-- KEYS[15]: the second index (optional)
-- ARGV: 1 upper bound: list ids strictly below it ('' = from the newest); the cursor
--       and the filter's range, combined by the caller  2 limit
--       3 most ids to look at when there is a second index
--       4 lower bound: list ids at or above it ('' = down to the oldest)
-- Reply: {scanned_to, ids...}: scanned_to is the last id looked at when the scan stopped
-- at ARGV[3] before `limit` ids were found, else ''
local max, min = '+', '-'
if ARGV[1] ~= '' then max = '(' .. ARGV[1] end
if ARGV[4] and ARGV[4] ~= '' then min = '[' .. ARGV[4] end
local limit = tonumber(ARGV[2])
if not KEYS[15] then
  local ids = redis.call('ZREVRANGEBYLEX', KEYS[14], max, min, 'LIMIT', 0, limit)
  table.insert(ids, 1, '')
  return ids
end
-- The scan stops at the lower bound too: ids below the range are never looked at.
local out, scanned, bound = {''}, 0, tonumber(ARGV[3])
while #out - 1 < limit do
  local batch = redis.call('ZREVRANGEBYLEX', KEYS[14], max, min, 'LIMIT', 0, 100)
  if #batch == 0 then return out end
  for _, id in ipairs(batch) do
    scanned = scanned + 1
    max = '(' .. id
    if redis.call('ZSCORE', KEYS[15], id) then
      table.insert(out, id)
      if #out - 1 == limit then return out end
    end
    if scanned >= bound then
      out[1] = id
      return out
    end
  end
end
return out
