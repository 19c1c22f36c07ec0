-- Publish a boundaries record if the stored one is still the version the leader computed from (a
-- compare-and-set: two leaders, briefly during a rebalance, cannot both publish a version). The record is
-- also kept under its version, and the one the history no longer holds is deleted, in the same step, so a
-- version readable as the latest is always readable by its number too.
-- KEYS: the boundaries record, the record of the new version, the record of the version leaving the history.
-- ARGV: the version computed from (0: none), the new record (JSON).
-- Returns 1 when stored, 0 when another leader published first.
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = tonumber(cjson.decode(cur)['version']) end
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[2])
if KEYS[3] ~= KEYS[2] then redis.call('DEL', KEYS[3]) end
return 1
