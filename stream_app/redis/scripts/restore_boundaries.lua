-- Put the leader's boundaries record back when Redis holds an older version or none: versions never go back.
-- KEYS: the boundaries record.  ARGV: the version of the record, the record (JSON).
-- Returns 1 when restored, 0 when Redis holds that version or a newer one.
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cjson.decode(cur)['version']) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
