-- Write a batch of customer profiles into a deployment that holds none of them yet (rfm-stream bootstrap).
-- KEYS and ARGV as write_profiles.lua's. With load_rank_index.lua, which adds the customers with a segment
-- to the rank index, leaves each customer as write_profiles.lua leaves a WRITTEN one with nothing stored
-- before (tests/integration/redis/test_load_script.py compares the two key by key), without judging: a
-- bootstrap writes only after finding the deployment empty, and a second run of the same load writes the
-- same profiles. Each set gets one call per batch, not per customer.
-- Returns how many customers it wrote.
local customer_head, segment_head, audience_head = ARGV[1], ARGV[2], ARGV[3]
local writes = cjson.decode(ARGV[5])
local members = {}
local function add(key, cid)
  local m = members[key]
  if not m then m = {}; members[key] = m end
  m[#m + 1] = cid
end
for n = 1, #writes do
  local w = writes[n]
  local cid, seg, auds = w[1], w[5], w[10]
  local hset = {'HSET', customer_head .. cid, 'seq', w[2], 'boundaries_version', w[3], 'version', w[4],
                'segment', seg, 'audiences', auds}
  for i = 11, #w do hset[#hset + 1] = w[i] end
  redis.call(unpack(hset))
  for a in string.gmatch(auds, '[^;]+') do add(audience_head .. a, cid) end
  if seg ~= '' then add(segment_head .. seg, cid) end  -- no segment: no longer scored (never so in a load)
end
for key, m in pairs(members) do redis.call('SADD', key, unpack(m)) end
return #writes
