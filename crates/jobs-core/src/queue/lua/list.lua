-- list: a page of ids from one index (all jobs or one status), newest first.
-- KEYS[14]: the index (score 0, lex order of UUIDv7 ids = time order)
-- ARGV: 1 cursor: list ids strictly older than this one ('' = from the newest)  2 limit
-- Reply: ids
local max = '+'
if ARGV[1] ~= '' then max = '(' .. ARGV[1] end
return redis.call('ZREVRANGEBYLEX', KEYS[14], max, '-', 'LIMIT', 0, ARGV[2])
