-- watch: take the watch for work due later, or keep it if this token holds it already,
-- for ARGV[2] ms. One worker at a time waits for delayed jobs and retries and rings the
-- doorbell when its time is up; the others need not stay awake for them.
-- KEYS[1]: the watch marker
-- ARGV: 1 token  2 ttl ms
-- Reply: {1} held by this token now, {0} held by another
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1}
