-- Write a batch of customer profiles, each judged by the rule of stream_app/core/profile.py's judge().
-- KEYS: the rank indexes r, f, m, aov, then index_changes.
-- ARGV: the customer, segment, audience and pending key heads, then the writes as one JSON array, each
--   {cid, seq, bv, version, segment, r, f, m, aov, audiences, field, value, ...} (ProfileWrite.row()).
-- Returns status, stored boundaries version, ... per write (the stored version is 0 when WRITTEN).
-- The customer's announcement (announce.lua) counts as a version subscribers may have seen: a write older
-- than it is STALE and it rules out KEPT; the profile stored afterwards drops it when not older than it.
local customer_head, segment_head, audience_head, pending_head = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local writes = cjson.decode(ARGV[5])
local out = {}
for n = 1, #writes do
  local w = writes[n]
  local cid, seg, auds = w[1], w[5], w[10]
  local seq, bv = tonumber(w[2]), tonumber(w[3])
  local h = customer_head .. cid
  local old = redis.call('HMGET', h, 'seq', 'boundaries_version', 'segment', 'audiences')
  local pend = redis.call('HMGET', pending_head .. cid, 'seq', 'boundaries_version')
  local ps, pb = tonumber(pend[1]), tonumber(pend[2])
  local before_pending = ps and (seq < ps or bv < pb)
  local status, stored_bv = WRITTEN, 0
  if old[1] then
    local os, ob = tonumber(old[1]), tonumber(old[2])
    if seq < os or bv < ob or before_pending then status, stored_bv = STALE, ob
    elseif seq == os and bv == ob then status, stored_bv = SAME, ob
    elseif seq == os and not ps then  -- the same events, newer boundaries: a replay after a crash or a takeover?
      local new = {}
      for i = 11, #w, 2 do new[w[i]] = w[i + 1] end
      local cur = redis.call('HMGET', h, 'r_score', 'f_score', 'm_score', 'aov_score')
      local kept = old[3] == seg and old[4] == auds
      for i, f in ipairs({'r_score', 'f_score', 'm_score', 'aov_score'}) do
        kept = kept and cur[i] == (new[f] or false)  -- a field the hash lacks is false, one the write lacks nil
      end
      if kept then
        status, stored_bv = KEPT, ob  -- the scoring Redis holds is still right: keep it, and its version
      end
    end
  elseif before_pending then status = STALE
  end
  if status == WRITTEN then
    local hset = {'HSET', h, 'seq', w[2], 'boundaries_version', w[3], 'version', w[4], 'segment', seg,
                  'audiences', auds}
    for i = 11, #w do hset[#hset + 1] = w[i] end
    redis.call(unpack(hset))
    if (old[4] or '') ~= auds then
      local before, after = {}, {}
      for a in string.gmatch(old[4] or '', '[^;]+') do before[a] = true end
      for a in string.gmatch(auds, '[^;]+') do after[a] = true end
      for a in pairs(before) do if not after[a] then redis.call('SREM', audience_head .. a, cid) end end
      for a in pairs(after) do if not before[a] then redis.call('SADD', audience_head .. a, cid) end end
    end
    local oseg = old[3]
    if oseg ~= seg then
      if oseg and oseg ~= '' then redis.call('SREM', segment_head .. oseg, cid) end
      if seg ~= '' then redis.call('SADD', segment_head .. seg, cid) end
    end
    -- the same events (seq) rank the same: a rescore's write leaves the four indexes as they are
    if not (old[1] and tonumber(old[1]) == seq) then
      local moved = 0
      for i = 1, 4 do
        if seg == '' then
          moved = moved + redis.call('ZREM', KEYS[i], cid)
        else
          moved = moved + redis.call('ZADD', KEYS[i], 'CH', w[5 + i], cid)
        end
      end
      if moved > 0 then redis.call('INCR', KEYS[5]) end
    end
  end
  if ps then  -- the profile now stored (none: nil) settles the announcement unless older than it
    local ss, sb = seq, bv
    if status ~= WRITTEN then ss, sb = tonumber(old[1]), tonumber(old[2]) end
    if ss and not (ss < ps or sb < pb) then redis.call('DEL', pending_head .. cid) end
  end
  out[#out + 1] = status
  out[#out + 1] = stored_bv
end
return out
