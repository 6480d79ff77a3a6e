-- cancel: queued jobs leave the queue at once; running jobs get a cancel request.
-- ARGV: 1 id  2 now ms  3 '1' when the job's event goes out (it has a callback URL)
-- Reply: {'cancelled'} (was queued) | {'requested'} (running) | {'requested-before'}
--        (running, its cancel asked before) | {'already', ms it was cancelled at or -1}
--        | {'finished', status} | {'unknown'}
local id = ARGV[1]
local status = status_of(id)
if status == 'queued' then
  -- A queued job waits in DELAYED or in READY. Its id stays in READY, where a claim
  -- passes it over (prelude: trim_ready); at the claiming end it goes at once.
  redis.call('ZREM', DELAYED, id)
  set_status(id, 'cancelled')
  trim_ready()
  finished_at(id, ARGV[2])
  if ARGV[3] == '1' then enqueue_hook(id, ARGV[2]) end
  return {'cancelled'}
elseif status == 'running' then
  if redis.call('SADD', CANCEL, id) == 0 then return {'requested-before'} end
  return {'requested'}
elseif status == 'cancelled' then
  local at = redis.call('ZSCORE', FINISHED, id)
  return {'already', at and tonumber(at) or -1}
elseif status == '' then
  return {'unknown'}
end
return {'finished', status}
