-- Publish a boundaries record if the stored one is still the version the leader computed from (a
-- compare-and-set: two leaders, briefly during a rebalance, cannot both publish a version).
-- KEYS: the boundaries record.  ARGV: the version computed from (0: none), the new record (JSON).
-- Returns 1 when stored, 0 when another leader published first.
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = tonumber(cjson.decode(cur)['version']) end
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
