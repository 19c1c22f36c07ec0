-- Read the cut keys of the four rank indexes at the given 0-based ranks, if the index is still the one the
-- ranks were computed for: the population size and the ranks come from Python (stream_app/core/quintiles.py's
-- cut_ranks), read a moment before, and any write that moves the index increments index_changes.
-- KEYS: the rank indexes r, f, m, aov, then index_changes.
-- ARGV: the index_changes and population size the ranks were computed for, then the ranks.
-- Returns false when the index moved meanwhile (read again), else member, score, ... for each dimension
-- in KEYS order and each rank in ARGV order.
if (redis.call('GET', KEYS[5]) or '0') ~= ARGV[1] or redis.call('ZCARD', KEYS[1]) ~= tonumber(ARGV[2]) then
  return false
end
local out = {}
for d = 1, 4 do
  for a = 3, #ARGV do
    local kv = redis.call('ZRANGE', KEYS[d], ARGV[a], ARGV[a], 'WITHSCORES')
    out[#out + 1] = kv[1]
    out[#out + 1] = kv[2]
  end
end
return out
