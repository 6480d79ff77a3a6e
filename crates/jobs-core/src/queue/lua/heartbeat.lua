-- heartbeat: extend the lease if the token still owns it; report cancel requests. The
-- other jobs of the caller's batch (ARGV 4..) have their leases extended too where the
-- token still owns them, so jobs waiting behind a slow one keep theirs.
-- ARGV: 1 id  2 token  3 new lease deadline ms  4.. the batch's other ids
-- Reply: {'owned', cancel requested 0|1} or {'lost'}
local id, token = ARGV[1], ARGV[2]
for i = 4, #ARGV do
  if owns(ARGV[i], token) then redis.call('ZADD', LEASES, ARGV[3], ARGV[i]) end
end
if not owns(id, token) then
  reexpire()
  return {'lost'}
end
redis.call('ZADD', LEASES, ARGV[3], id)
reexpire()
return {'owned', redis.call('SISMEMBER', CANCEL, id)}
