-- Record that a partition was rescored to a boundaries version; the versions recorded only grow. The
-- audience rules of the worker that marked the version are recorded with it: a new owner with other rules
-- cannot take the partition's customers to hold its own.
-- KEYS: the rescored hash, the rescored rules hash.  ARGV: the partition, the version, the rules fingerprint.
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local v = tonumber(ARGV[2])
if v > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
if v >= old then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return 1
