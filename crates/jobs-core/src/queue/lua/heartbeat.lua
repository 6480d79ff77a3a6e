-- heartbeat: extend the leases of the ids this token still owns, and say for each
-- whether it owns it and whether a client asked to cancel it. A worker asks this for
-- its whole batch at once: jobs waiting behind a slow one keep their leases, later jobs
-- learn of cancels without asking again, and the outcomes it kept back are checked
-- before they are written (a job another worker has taken meanwhile gets nothing).
-- ARGV: 1 token  2 new lease deadline ms  3.. ids
-- Reply: per id, in order: 0 not owned, 1 owned (extended), 2 owned and cancel requested
local token, out = ARGV[1], {}
for i = 3, #ARGV do
  if owns(ARGV[i], token) then
    redis.call('ZADD', LEASES, ARGV[2], ARGV[i])
    out[#out + 1] = 1 + redis.call('SISMEMBER', CANCEL, ARGV[i])
  else
    out[#out + 1] = 0
  end
end
reexpire()
return out
