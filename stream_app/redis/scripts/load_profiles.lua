-- Write a batch of customer profiles into a deployment that holds none of them yet (rfm-stream bootstrap).
-- KEYS and ARGV as write_profiles.lua's. Leaves each customer as write_profiles.lua leaves a WRITTEN one
-- with nothing stored before (tests/integration/redis/test_load_script.py compares the two key by key),
-- without judging: a bootstrap writes only after finding the deployment empty, and a second run of the
-- same load writes the same profiles. Each set and rank index gets one call per batch, not per customer.
-- Returns how many customers it wrote.
local customer_head, segment_head, audience_head = ARGV[1], ARGV[2], ARGV[3]
local writes = cjson.decode(ARGV[5])
local members, ranked = {}, {{}, {}, {}, {}}
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
  if seg ~= '' then  -- a customer no longer scored has no segment and no rank (never so in a load)
    add(segment_head .. seg, cid)
    for i = 1, 4 do
      local r = ranked[i]
      r[#r + 1] = w[5 + i]
      r[#r + 1] = cid
    end
  end
end
for key, m in pairs(members) do redis.call('SADD', key, unpack(m)) end
local moved = 0
for i = 1, 4 do
  if #ranked[i] > 0 then moved = moved + redis.call('ZADD', KEYS[i], 'CH', unpack(ranked[i])) end
end
-- write_profiles.lua counts one index change per customer whose ranks it moved
if moved > 0 then redis.call('INCRBY', KEYS[5], #ranked[1] / 2) end
return #writes
