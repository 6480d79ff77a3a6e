-- heartbeat: extend the lease if the token still owns it; report cancel requests.
-- ARGV: 1 id  2 token  3 new lease deadline ms
-- Reply: {'owned', cancel requested 0|1} or {'lost'}
local id = ARGV[1]
if not owns(id, ARGV[2]) then return {'lost'} end
redis.call('ZADD', LEASES, ARGV[3], id)
return {'owned', redis.call('SISMEMBER', CANCEL, id)}
