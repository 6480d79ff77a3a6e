-- withdraw: undo a submit whose outcome the intake could not confirm, and release the
-- idempotency key if it still names this job.
-- KEYS[14]: idempotency key (optional)
-- ARGV: 1 id  2 idempotency value the submit would have written
-- Reply: {'withdrawn'}
forget(ARGV[1])
if KEYS[14] and redis.call('GET', KEYS[14]) == ARGV[2] then
  redis.call('DEL', KEYS[14])
end
return {'withdrawn'}
