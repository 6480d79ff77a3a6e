-- renew: extend the leases of the ids this token still owns, and say which it owns. A
-- worker asks this before it writes the outcomes it kept back: a job whose lease another
-- worker has taken meanwhile gets nothing written by this one.
-- ARGV: 1 token  2 new lease deadline ms  3.. ids
-- Reply: one 1 (owned, extended) or 0 (not owned) per id, in order
local token, out = ARGV[1], {}
for i = 3, #ARGV do
  if owns(ARGV[i], token) then
    redis.call('ZADD', LEASES, ARGV[2], ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
reexpire()
return out
