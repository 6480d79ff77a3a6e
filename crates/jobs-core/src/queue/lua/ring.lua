-- ring: ring the doorbell again unless someone rang within the caller's window, so that
-- many status polls or workers re-ringing at once do not flood every subscribed worker.
-- The marker holds when it was last rung (ms, by Redis's clock: only this script reads
-- it), so each caller judges by its own window: a drain shorter than the usual window is
-- not held back by the ring that started it.
-- KEYS[1]: the "rung recently" marker
-- ARGV: 1 channel  2 payload  3 window ms  4 how long the marker stands (the longest window)
-- Reply: {1} rung, {0} suppressed
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[1]) or '')
if last and now - last < tonumber(ARGV[3]) then return {0} end
redis.call('SET', KEYS[1], now, 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return {1}
