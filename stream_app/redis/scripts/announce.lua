-- Record the events a batch is about to deliver, per customer (core/profile.py's Announced).
-- ARGV: the customer and pending key heads, then one JSON array of {cid, seq, bv, body}.
-- An announcement older than the customer's profile or than the announcement Redis holds is not recorded
-- (the rule of core/profile.py's older()): its writer is a replay or a replaced worker, whose profile
-- write the write script refuses too.
local customer_head, pending_head = ARGV[1], ARGV[2]
local items = cjson.decode(ARGV[3])
for n = 1, #items do
  local a = items[n]
  local seq, bv = tonumber(a[2]), tonumber(a[3])
  local prof = redis.call('HMGET', customer_head .. a[1], 'seq', 'boundaries_version')
  local pend = redis.call('HMGET', pending_head .. a[1], 'seq', 'boundaries_version')
  local stale = (prof[1] and (seq < tonumber(prof[1]) or bv < tonumber(prof[2])))
             or (pend[1] and (seq < tonumber(pend[1]) or bv < tonumber(pend[2])))
  if not stale then
    redis.call('HSET', pending_head .. a[1], 'seq', a[2], 'boundaries_version', a[3], 'body', a[4])
  end
end
return #items
