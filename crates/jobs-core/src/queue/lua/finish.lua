-- finish: the token's holder recorded a final state; release the lease and index it.
-- ARGV: 1 id  2 token  3 final status (succeeded|failed|cancelled)  4 now ms
--       5 '1' when the job is dead (failed for good)
-- Reply: {'finished'} or {'lost'}
local id, status = ARGV[1], ARGV[3]
if not owns(id, ARGV[2]) then return {'lost'} end
if not STATUS[status] or status == 'queued' or status == 'running' then
  return redis.error_reply('finish: not a final status: ' .. status)
end
redis.call('ZREM', LEASES, id)
redis.call('HDEL', OWNER, id)
redis.call('SREM', CANCEL, id)
set_status(id, status)
redis.call('ZADD', FINISHED, ARGV[4], id)
if ARGV[5] == '1' then redis.call('HINCRBY', COUNTERS, 'dead', 1) end
return {'finished'}
