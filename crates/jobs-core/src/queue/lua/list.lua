-- list: a page of ids from one index, newest first; with a second index, only the ids
-- that are in it too (a kind's jobs in one status).
-- KEYS[14]: the index (score 0, lex order of UUIDv7 ids = time order)
-- KEYS[15]: the second index (optional)
-- ARGV: 1 cursor: list ids strictly older than this one ('' = from the newest)  2 limit
--       3 most ids to look at when there is a second index
-- Reply: {scanned_to, ids...}: scanned_to is the last id looked at when the scan stopped
-- at ARGV[3] before `limit` ids were found, else ''
local max = '+'
if ARGV[1] ~= '' then max = '(' .. ARGV[1] end
local limit = tonumber(ARGV[2])
if not KEYS[15] then
  local ids = redis.call('ZREVRANGEBYLEX', KEYS[14], max, '-', 'LIMIT', 0, limit)
  table.insert(ids, 1, '')
  return ids
end
local out, scanned, bound = {''}, 0, tonumber(ARGV[3])
while #out - 1 < limit do
  local batch = redis.call('ZREVRANGEBYLEX', KEYS[14], max, '-', 'LIMIT', 0, 100)
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
