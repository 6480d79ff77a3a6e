-- key_issue: record a new API key of an existing tenant (its hash only).
-- KEYS: 1 the tenant's settings (HASH)  2 the key's record (HASH)  3 the tenant's keys (ZSET)
-- ARGV: 1 tenant  2 key id  3 SHA-256 of the key, hex  4 now ms  5 role (full | read)
-- Reply: {'issued'}, {'missing'} (no such tenant) or {'collision'} (the id is taken)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'collision'} end
redis.call('HSET', KEYS[2], 'tenant', ARGV[1], 'hash', ARGV[3], 'created_ms', ARGV[4],
  'role', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return {'issued'}
