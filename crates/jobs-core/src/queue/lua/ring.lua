-- ring: ring the doorbell again unless someone rang within the window, so that many
-- status polls or workers re-ringing at once do not flood every subscribed worker.
-- KEYS[1]: the "rung recently" marker
-- ARGV: 1 channel  2 payload  3 window ms
-- Reply: {1} rung, {0} suppressed
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
  return {1}
end
return {0}
