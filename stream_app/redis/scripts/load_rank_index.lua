-- Add a batch of customers to one rank index of a deployment being loaded (rfm-stream bootstrap).
-- KEYS: the rank index, then index_changes. ARGV[1]: JSON [[value, ...], [customer id, ...]], the two
-- arrays of equal length. The members are those load_profiles.lua wrote with a segment, the scores their
-- rank values on this dimension: exact, as every rank value is an integer below 2^53. The caller sends
-- them in (value, id) order, the index's own, so each ZADD walks where the last one did (docs/streaming.md).
-- The counter moves once per call that moved the index: a load run again leaves it as it was.
-- Returns how many members were added or moved.
local batch = cjson.decode(ARGV[1])
local values, ids, args = batch[1], batch[2], {}
if #ids == 0 then return 0 end
for i = 1, #ids do
  args[2 * i - 1] = values[i]
  args[2 * i] = ids[i]
end
local moved = redis.call('ZADD', KEYS[1], 'CH', unpack(args))
if moved > 0 then redis.call('INCR', KEYS[2]) end
return moved
