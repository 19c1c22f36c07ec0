-- Record that a partition was rescored to a boundaries version; the versions recorded only grow.
-- KEYS: the rescored hash.  ARGV: the partition, the version.
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
