-- finish_and_claim: finish the jobs of one batch and claim the next batch in one round
-- trip, for a worker that goes on draining: `finish_jobs`, then `claim`, atomically;
-- with max 0 it only finishes.
-- ARGV: 1 now ms  2 lease deadline ms of the next claim  3 its owner token  4 max jobs
--       5 '1' when the claimed jobs' records come with the claim (claim_jobs `read`)
--       6 m, the number of jobs to finish, then 8 entries each:
--         tenant, id, token, final status, '1' when dead, '1' when its event goes out,
--         the key-value key of its final record and the record ('' and '': none), written
--         only if the token holds the job
-- Reply: {'finished' | 'lost' for each of the m jobs, then the entries of the claim reply}
local now, m = ARGV[1], tonumber(ARGV[6])
-- Refuse a status that is not final before anything changes (a script error does not
-- undo the writes made before it).
for i = 0, m - 1 do
  local status = ARGV[7 + 8 * i + 3]
  if not FINAL[status] then error('finish: not a final status: ' .. tostring(status)) end
end
local jobs = {}
for i = 0, m - 1 do
  local at = 7 + 8 * i
  jobs[i + 1] = {ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5],
    ARGV[at + 6], ARGV[at + 7]}
end
local reply = finish_jobs(jobs, now)
local claim = claim_jobs(tonumber(now), ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5] == '1')
for _, v in ipairs(claim) do
  table.insert(reply, v)
end
return reply
