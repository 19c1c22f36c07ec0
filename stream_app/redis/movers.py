"""The customers a cut move rescores, read from the rank index in Redis: cost in the movers, not the population.

The rank index is four sorted sets ``{prefix}:rank:{r|f|m|aov}`` (member = customer id, score = the exact
integer value), and Redis orders equal scores by member bytes: the set's order *is* the ``(value,
customer_id)`` order of :mod:`stream_app.core.quintiles`. So the customers in a key interval of
:func:`stream_app.core.movers.intervals` are one contiguous run of the set.

The run's ends need care: a cut key's value is often shared by a large share of the population (a frequency
of 1, say), and its customer may have changed value since, so neither ``ZRANGEBYSCORE value value`` (it
would return the whole tie group) nor ``ZRANK`` of the cut customer finds the end. A Lua script finds it by
a binary search within the tie group (``ZCOUNT`` bounds it, ``ZRANGE i i`` reads one member, both O(log N)),
comparing members byte by byte as Redis does: Lua's own string ``<`` uses the server's collation locale,
which need not be byte order.

Each script call returns one page of at most ``page`` customers and is atomic; the next page starts after
the last key returned (a key, not an index), so customers written concurrently elsewhere in the set can
shift positions without making the scan skip or repeat anyone whose key holds still. The pages of all
intervals go out together, one pipeline per round trip, so a million movers (a big rules change) is a few
hundred short calls rather than one that blocks Redis or times out.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from stream_app.core.movers import Interval, intervals, rescores_everyone
from stream_app.core.quintiles import Key
from stream_app.core.scoring import Boundaries
from stream_app.redis.keys import rank_key

# KEYS[1] rank set. ARGV: lo flag ('' unbounded, '[' inclusive, '(' exclusive), lo value, lo member,
# hi flag, hi value, hi member, page size. Returns the members in key order, then the last one's score (the
# next page's cursor): one score, not one per member, as parsing the reply is most of a big page's cost.
PAGE = """
local k = KEYS[1]
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
-- the index of the first member whose key is above (v, c), or at or above it when inclusive
local function first_from(v, c, inclusive)
  local lo = redis.call('ZCOUNT', k, '-inf', '(' .. v)
  local hi = redis.call('ZCOUNT', k, '-inf', v)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZRANGE', k, mid, mid)[1]
    local from
    if inclusive then from = not before(m, c) else from = before(c, m) end
    if from then hi = mid else lo = mid + 1 end
  end
  return lo
end
local start = 0
if ARGV[1] ~= '' then start = first_from(ARGV[2], ARGV[3], ARGV[1] == '[') end
local stop = redis.call('ZCARD', k)
if ARGV[4] ~= '' then stop = first_from(ARGV[5], ARGV[6], ARGV[4] == '(') end
local page = tonumber(ARGV[7])
if stop - start > page then stop = start + page end
if stop <= start then return {} end
local out = redis.call('ZRANGE', k, start, stop - 1)
out[#out + 1] = redis.call('ZSCORE', k, out[#out])
return out
"""

PAGE_SIZE = 5000


@dataclass(slots=True)
class _Cursor:
    key: str
    span: Interval
    #: the last key returned; the next page starts after it
    after: Key | None = None

    def args(self, page: int) -> list[str | int]:
        if self.after is not None:
            lo: list[str | int] = ["(", self.after[0], self.after[1]]
        elif self.span.lo is not None:
            lo = ["[" if self.span.lo_inclusive else "(", self.span.lo[0], self.span.lo[1]]
        else:
            lo = ["", 0, ""]
        hi: list[str | int] = ["", 0, ""] if self.span.hi is None else [
            "[" if self.span.hi_inclusive else "(", self.span.hi[0], self.span.hi[1]]
        return [*lo, *hi, page]


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class MoverQuery:
    """Finds, in one prefix's rank index, the customers in given key intervals."""

    def __init__(self, client: aioredis.Redis, prefix: str, page: int = PAGE_SIZE):
        if page < 1:
            raise ValueError("the page size of the movers query must be at least 1")
        self.client = client
        self.prefix = prefix
        self.page = page
        self._sha: str | None = None

    async def movers(self, old: Boundaries, new: Boundaries) -> set[str]:
        """Every customer whose scores on some dimension differ between ``old`` and ``new``.

        When the cut keys cannot tell (see :func:`stream_app.core.movers.rescores_everyone`), that is every
        customer of the index, read from the R set alone: the four sets hold the same customers.
        """
        if rescores_everyone(old, new):
            return await self.members({"r": [Interval(None, None, True, True)]})
        return await self.members(intervals(old, new))

    async def members(self, spans: dict[str, list[Interval]]) -> set[str]:
        """The customers whose key on a dimension lies in one of that dimension's intervals."""
        open_ = [_Cursor(rank_key(self.prefix, d), s) for d, ss in spans.items() for s in ss]
        found: set[str] = set()
        while open_:
            replies = await self._pages(open_)
            still: list[_Cursor] = []
            for cursor, reply in zip(open_, replies):
                members = reply[:-1]
                found.update(map(_text, members))
                if len(members) == self.page:
                    last = (int(float(reply[-1])), _text(members[-1]))
                    if cursor.after is not None and not last > cursor.after:
                        # a page that does not advance would repeat for ever: fail loudly instead
                        raise RuntimeError(f"the movers query of {cursor.key} did not advance past {cursor.after}")
                    cursor.after = last
                    still.append(cursor)
            open_ = still
        return found

    async def _pages(self, cursors: list[_Cursor]) -> list[list]:
        for attempt in (1, 2):
            if self._sha is None:
                self._sha = await self.client.script_load(PAGE)
            pipe = self.client.pipeline(transaction=False)
            for c in cursors:
                pipe.evalsha(self._sha, 1, c.key, *c.args(self.page))
            try:
                return await pipe.execute()
            except NoScriptError:
                if attempt == 2:
                    raise
                self._sha = None  # the server lost its script cache (a restart): load it again
        raise AssertionError("unreachable")
