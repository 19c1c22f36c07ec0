-- Read a batch of customer profiles, unless Redis lost them since the worker last checked.
-- KEYS: the epoch marker (stream_app/worker/redis_epoch.py).
-- ARGV: the customer key head, the customer ids as one JSON array, the epoch token the reader expects
--   ('' to read without checking), the pending key head.
-- Returns 'lost' when the token differs, else a JSON array of {seq, bv, segment, r, f, m, aov, audiences,
-- pending seq, pending bv, pending body} per customer (0 when Redis holds neither a profile nor an
-- announcement; false for what is missing).
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'token') ~= ARGV[3] then return 'lost' end
local ids = cjson.decode(ARGV[2])
local out = {}
for i = 1, #ids do
  local v = redis.call('HMGET', ARGV[1] .. ids[i], 'seq', 'boundaries_version', 'segment', 'r_score',
                       'f_score', 'm_score', 'aov_score', 'audiences')
  local p = redis.call('HMGET', ARGV[4] .. ids[i], 'seq', 'boundaries_version', 'body')
  if p[1] then
    v[9], v[10], v[11] = p[1], p[2], p[3]
    out[i] = v
  elseif v[1] then out[i] = v else out[i] = 0 end
end
return cjson.encode(out)
