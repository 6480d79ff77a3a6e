-- finish_and_claim: finish one job and claim the next in one round trip, for a worker
-- that goes on draining. Exactly `finish` then `claim`, atomically.
-- ARGV: 1 id  2 token  3 final status  4 now ms  5 '1' when dead
--       6 lease deadline ms of the next claim  7 its owner token
-- Reply: {'finished' | 'lost', then the 3 entries of the claim reply}
local reply = {finish_job(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])}
for _, v in ipairs(claim_job(tonumber(ARGV[4]), ARGV[6], ARGV[7])) do
  table.insert(reply, v)
end
return reply
