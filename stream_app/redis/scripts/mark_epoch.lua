-- Mark a partition rewritten, unless Redis lost its data again since the rewrite began (the token changed).
-- KEYS: the epoch marker.  ARGV: the token the rewrite began under, the partition.
-- Returns 1 when marked, 0 when the token changed.
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
return 1
