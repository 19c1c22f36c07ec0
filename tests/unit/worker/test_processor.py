"""The batch processor without servers: a dict for the Table, a Python twin of the Redis script.

The twin applies the rule the Lua script follows (stream_app/core/profile.py's judge: refuse an older
(seq, boundaries version), treat an equal one as done, keep an unchanged rescore) so these tests pin the
processor's side of the contract; tests/integration/redis/test_profile_script.py pins the script to the
same rule.
"""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest

from stream_app.kafka.partitioner import partition_of
from stream_app.adapters.frame import events_to_frame
from stream_app.batch import score as batch_score
from stream_app.core.model import OrderEvent
from stream_app.core.scoring import Boundaries, boundaries_of
from stream_app.core.segments import SegmentMap
from stream_app.core.model import Totals
from stream_app.core.movers import within
from stream_app.core.quintiles import DIMENSIONS
from stream_app.core.profile import StoredProfile, WriteStatus, judge, announcement_kept, settles
from stream_app.worker import control
from stream_app.worker.messages import Msg
from stream_app.worker.ports import iter_partition
from stream_app.worker.processor import Processor

PARTITIONS = 3


class DictTable:
    def __init__(self):
        self.data: dict[bytes, bytes] = {}
        self.fail_after: int | None = None  # simulate a crash before the N+1th write

    def get(self, key, msg):
        return self.data.get(key)

    def set(self, key, value, msg):
        if self.fail_after is not None:
            if self.fail_after == 0:
                raise RuntimeError("crash")
            self.fail_after -= 1
        self.data[key] = value

    async def drain(self):
        pass

    def partition_items(self, partition):
        return iter_partition(iter(list(self.data.items())), partition, PARTITIONS)


class TwinSinks:
    def __init__(self):
        self.profiles: dict[str, dict] = {}
        self.pending: dict[str, object] = {}  # customer id -> Announced (the announce script's keys)
        self.changes: list[dict] = []
        self.dead: list[dict] = []
        self.audience: list[dict] = []
        self.published = None
        self.rescored: dict[int, int] = {}
        self.mover_queries = 0
        self.rescored_rules: dict[int, str] = {}
        self.history: dict[int, object] = {}  # version -> Published: what the leader keeps readable by number
        self.audiences_fp = ""  # the leader's rules fingerprint, recorded with each version
        self.read: list[str] = []  # every customer id whose profile was read, in order

    async def write_profiles(self, writes):
        out = []
        for w in writes:
            status = judge(w, self._stored(w.customer_id))
            if status is WriteStatus.WRITTEN:
                self.profiles[w.customer_id] = {"seq": w.seq, "bv": w.boundaries_version, "segment": w.segment,
                                                "ranks": w.ranks, "audiences": w.audiences,
                                                **dict(zip(w.fields[::2], w.fields[1::2]))}
                out.append((status, 0))
            else:
                out.append((status, self.profiles.get(w.customer_id, {}).get("bv", 0)))
            now = self.profiles.get(w.customer_id)
            pending = self.pending.get(w.customer_id)
            if pending is not None and now is not None and settles(now["seq"], now["bv"], pending):
                del self.pending[w.customer_id]
        return out

    async def announce(self, announced):
        for cid, a in announced:
            if announcement_kept(a, self._stored(cid)):
                self.pending[cid] = a

    def _stored(self, cid):
        old = self.profiles.get(cid)
        pending = self.pending.get(cid)
        if old is None:
            return StoredProfile(0, 0, None, None, (), pending) if pending is not None else None
        scores = tuple(old.get(k) for k in ("r_score", "f_score", "m_score", "aov_score"))
        return StoredProfile(old["seq"], old["bv"], old["segment"] or None,
                             scores if scores[0] is not None else None, tuple(old["audiences"]), pending)

    async def read_profiles(self, customer_ids):
        self.read += customer_ids
        return [self._stored(cid) for cid in customer_ids]

    async def publish(self, changes, dead, audience=()):
        self.changes += [orjson.loads(v) for _, v in changes]
        self.dead += [orjson.loads(v) for _, v in dead]
        self.audience += [orjson.loads(v) for _, v in audience]

    async def latest_boundaries(self):
        from stream_app.core.scoring import Boundaries
        return self.published or Boundaries()

    async def latest_published(self):
        from stream_app.worker.boundaries import Published
        return Published(await self.latest_boundaries(), computed_us=1_700_000_000_000_000,
                         audiences_fp=self.audiences_fp)

    def publish_boundaries(self, bounds):
        """The leader's compare-and-set: the latest record, and the same record kept under its version."""
        from stream_app.worker.boundaries import Published
        self.published = bounds
        self.history[bounds.version] = Published(bounds, computed_us=1_700_000_000_000_000,
                                                 audiences_fp=self.audiences_fp)

    async def last_rescore(self, partition):
        if partition not in self.rescored:
            return None
        return self.rescored[partition], self.rescored_rules[partition]

    async def published_between(self, lo, hi):
        chain = [self.history.get(v) for v in range(lo, hi + 1)]
        return chain if chain and None not in chain else None

    async def mark_rescored(self, partition, version, rules_fp):
        if version >= self.rescored.get(partition, 0):
            self.rescored_rules[partition] = rules_fp
        self.rescored[partition] = max(version, self.rescored.get(partition, 0))

    async def movers(self, spans):
        """The rank index's customers whose (value, id) key lies in the spans (what MoverQuery asks Redis)."""
        self.mover_queries += 1
        return {cid for cid, p in self.profiles.items() if p["segment"] and any(
            within(spans[d], (value, cid)) for d, value in zip(DIMENSIONS, p["ranks"]))}

    def recompute(self):
        """What the leader does: boundaries over every indexed customer, one control per partition."""
        pop = {cid: Totals(frequency=p["ranks"][1], monetary_cents=p["ranks"][2], last_order_us=p["ranks"][0])
               for cid, p in self.profiles.items() if p["segment"]}
        version = (self.published.version if self.published else 0) + 1
        self.publish_boundaries(boundaries_of(pop, version))
        return control.encode_rescore(self.published.version)


def sample_events(n_customers: int = 60, seed: int = 3) -> list[OrderEvent]:
    rng = random.Random(seed)
    evs = []
    for i in range(n_customers * 4):
        cid = f"{rng.randrange(n_customers):03d}"
        t = 1_600_000_000_000_000 + i * 60_000_000
        if rng.random() < 0.1:
            evs.append(OrderEvent("return", cid, t, f"o{rng.randrange(i + 1)}", -rng.randrange(1, 5000)))
        else:
            evs.append(OrderEvent("order", cid, t, f"o{i}", rng.randrange(0, 90000)))
    return evs


def to_msgs(evs, start: dict[int, int] | None = None) -> list[Msg]:
    offsets = dict(start or {})
    out = []
    for e in evs:
        key = e.customer_id.encode()
        p = partition_of(key, PARTITIONS)
        off = offsets.get(p, 0)
        offsets[p] = off + 1
        out.append(Msg(p, off, key, orjson.dumps(e.to_json())))
    return out


def next_msgs(evs, nxt: dict[int, int]) -> list[Msg]:
    """The records of ``evs`` at each partition's next offsets, which move on past them."""
    msgs = to_msgs(evs, nxt)
    for m in msgs:
        nxt[m.partition] = m.offset + 1
    return msgs


def run(coro):
    return asyncio.run(coro)


async def drive(proc: Processor, sinks: TwinSinks, msgs: list[Msg], batch: int, next_offsets: dict[int, int]):
    for i in range(0, len(msgs), batch):
        await proc.process(msgs[i : i + batch])
    payload = sinks.recompute()
    ctl = []
    for p in range(PARTITIONS):
        ctl.append(Msg(p, next_offsets.get(p, 0), control.CONTROL_KEY, payload))
        next_offsets[p] = next_offsets.get(p, 0) + 1
    await proc.process(ctl)


def assert_equals_batch(evs, sinks: TwinSinks):
    expected = batch_score(events_to_frame(evs))
    got = {cid: p for cid, p in sinks.profiles.items() if p["segment"]}
    assert sorted(got) == sorted(expected["customer_id"])
    for row in expected.itertuples():
        p = got[row.customer_id]
        assert (p["segment"], int(p["r_score"]), int(p["f_score"]), int(p["m_score"])) == (
            row.segment, row.r_score, row.f_score, row.m_score), row.customer_id
    # versions only grow; a repeat (after a crash) is the same event again; the last one is the final state
    last: dict[str, dict] = {}
    for ch in sinks.changes:
        prev = last.get(ch["customer_id"])
        if prev is not None and ch["version"] == prev["version"]:
            assert ch == prev
        else:
            assert prev is None or ch["version"] > prev["version"]
        last[ch["customer_id"]] = ch
    assert {c: ch["segment"] for c, ch in last.items()} == {c: p["segment"] for c, p in got.items()}
    # two distinct versions in a row always differ in scoring: a replay is never a second "change"
    scoring: dict[str, tuple] = {}
    for ch in sinks.changes:
        key = (ch["version"], ch["segment"], ch["r_score"], ch["f_score"], ch["m_score"], ch["aov_score"])
        prev = scoring.get(ch["customer_id"])
        assert prev is None or prev[0] == key[0] or prev[1:] != key[1:], f"{ch['customer_id']}: {prev} then {key}"
        scoring[ch["customer_id"]] = key


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_result_equals_batch_whatever_the_batching(batch):
    evs = sample_events()
    msgs = to_msgs(evs)
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}
    run(drive(proc, sinks, msgs, batch, nxt))
    assert_equals_batch(evs, sinks)
    assert sinks.rescored == {p: 1 for p in range(PARTITIONS)}


def test_duplicates_and_replayed_offsets_change_nothing():
    evs = sample_events()
    msgs = to_msgs(evs)
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}

    async def go():
        await proc.process(msgs)
        await proc.process(msgs[: len(msgs) // 2])  # replayed offsets
        again = to_msgs(evs, nxt)  # every event sent a second time, at new offsets
        for m in again:
            nxt[m.partition] = max(nxt[m.partition], m.offset + 1)
        await drive(proc, sinks, again, 50, nxt)

    run(go())
    assert proc.counters.replayed == len(msgs) // 2
    assert proc.counters.duplicates == len(msgs)
    assert_equals_batch(evs, sinks)


@pytest.mark.parametrize("boundaries_moved", [False, True])
def test_a_crash_before_the_table_write_replays_to_the_same_versions(boundaries_moved):
    """Redis and the change events were written, the state was not. With boundaries_moved, another worker's
    leader published newer boundaries before the replay: where they score a customer as before, the replay
    re-publishes nothing new (the first version stands)."""
    evs = sample_events()
    msgs = to_msgs(evs)
    sinks = TwinSinks()
    table = DictTable()
    proc = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}
    half = len(msgs) // 2

    async def go():
        if boundaries_moved:
            await drive(proc, sinks, msgs[:half], 13, dict(nxt))
        else:
            await proc.process(msgs[:half])
        table.fail_after = 3  # Redis and change events done, then a crash after 3 table writes
        with pytest.raises(RuntimeError):
            await proc.process(msgs[half:])
        table.fail_after = None
        if boundaries_moved:
            sinks.recompute()
        restarted = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)  # a new process, same table
        await drive(restarted, sinks, msgs[half - 40 :], 13, nxt)  # from an older committed offset

    run(go())
    assert_equals_batch(evs, sinks)


def test_a_rescore_repairs_a_profile_a_dead_worker_left_ahead_of_the_state():
    """A worker rescored a customer in Redis (and published it), then died before its changelog: the state
    still holds the older scoring. New boundaries that score the customer as the state does must still
    rewrite Redis, and tell subscribers, who last saw the dead worker's scoring."""
    import dataclasses

    evs = sample_events()
    msgs = to_msgs(evs)
    sinks = TwinSinks()
    table = DictTable()
    proc = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}

    async def go():
        await drive(proc, sinks, msgs, 13, nxt)
        b1 = sinks.published
        cid, prof = next((c, p) for c, p in sinks.profiles.items() if p["segment"] and p["r_score"] != "5")
        old_r = prof["r_score"]
        prof.update(bv=b1.version + 1, r_score="5")  # the dead worker's rescore under boundaries v2
        sinks.changes.append({"customer_id": cid, "version": prof["seq"] + b1.version + 1, "segment": prof["segment"],
                              "r_score": 5})
        sinks.published = dataclasses.replace(b1, version=b1.version + 2)  # v3 cuts like v1's
        p = partition_of(cid.encode(), PARTITIONS)
        ctl = Msg(p, nxt[p], control.CONTROL_KEY, control.encode_rescore(sinks.published.version))
        successor = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)  # the worker that took the partition
        await successor.process([ctl])
        assert successor.counters.repaired == 1
        return cid, old_r

    cid, old_r = run(go())
    assert sinks.profiles[cid]["r_score"] == old_r and sinks.profiles[cid]["bv"] == sinks.published.version
    last = [c for c in sinks.changes if c["customer_id"] == cid][-1]
    assert last["r_score"] == int(old_r) and last["cause"] == "rescore"


def test_malformed_events_become_dead_letters():
    evs = sample_events(20)
    msgs = to_msgs(evs)
    bad = [
        Msg(0, 10_000, b"x", b"{not json"),
        Msg(1, 10_000, b"x", orjson.dumps({"type": "order", "customer_id": "x", "occurred_at": "2020-01-01T00:00:00Z"})),
        Msg(2, 10_000, b"y", orjson.dumps({**evs[0].to_json(), "customer_id": "y", "amount": "12"})),
        Msg(2, 10_001, b"zz", orjson.dumps(evs[0].to_json())),  # key is not the customer
        Msg(0, 10_001, b"q", orjson.dumps({**evs[0].to_json(), "customer_id": "q", "occurred_at": "2999-01-01T00:00:00Z"})),
        Msg(1, 10_001, b"w", b"\xff\xfe"),
    ]
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    nxt = {p: 20_000 for p in range(PARTITIONS)}
    run(drive(proc, sinks, msgs[:30] + bad + msgs[30:], 16, nxt))
    assert len(sinks.dead) == len(bad)
    assert [d["offset"] for d in sinks.dead] == [m.offset for m in bad]
    assert all(d["reason"] for d in sinks.dead)
    assert {d["field"] for d in sinks.dead} >= {"amount", "customer_id", "occurred_at"}
    assert_equals_batch(evs, sinks)


def test_audiences_follow_batch_and_events_add_up():
    """Audience membership written per customer equals batch's column; enters minus exits = final size."""
    from collections import Counter

    from stream_app.audiences import rules as audience_rules

    rules = audience_rules.load()
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS, rules=rules, rules_fp=rules.fingerprint)
    evs = sample_events(200, seed=11)
    run(drive(proc, sinks, to_msgs(evs), 97, {p: 10_000 for p in range(PARTITIONS)}))
    expected = batch_score(events_to_frame(evs)).set_index("customer_id")["audiences"]
    got = {cid: ";".join(p["audiences"]) for cid, p in sinks.profiles.items() if p["segment"]}
    assert got == expected.to_dict()
    assert any(got.values())  # the sample does reach some audience
    net = Counter()
    for e in sinks.audience:
        net[e["audience"]] += 1 if e["action"] == "enter" else -1
    sizes = Counter(a for v in got.values() for a in v.split(";") if a)
    assert +net == sizes


def test_changing_the_rules_moves_memberships_on_the_next_rescore():
    from stream_app.audiences import rules as audience_rules

    first = audience_rules.load()
    sinks = TwinSinks()
    table = DictTable()
    proc = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS, rules=first, rules_fp=first.fingerprint)
    evs = sample_events(120, seed=5)
    offsets = {p: 10_000 for p in range(PARTITIONS)}
    run(drive(proc, sinks, to_msgs(evs), 50, offsets))
    everyone = audience_rules.parse({"version": 1, "audiences": [
        {"name": "everyone", "all": [{"field": "rfm_sum", "op": "gte", "value": 3}]}]})
    restarted = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS, rules=everyone, rules_fp=everyone.fingerprint)
    payload = sinks.recompute()  # the leader bumps the version when the rules' fingerprint differs
    run(restarted.process([Msg(p, offsets[p], control.CONTROL_KEY, payload) for p in range(PARTITIONS)]))
    scored = [cid for cid, p in sinks.profiles.items() if p["segment"]]
    assert all(sinks.profiles[cid]["audiences"] == ("everyone",) for cid in scored)


@pytest.mark.parametrize("seed", [3, 8, 21])
def test_rescoring_only_the_movers_leaves_what_rescoring_everyone_leaves(seed):
    """A stream with two recomputes per chunk (events scored with the first before its control arrives,
    so a partition's customers hold scores of two versions when the second is rescored): a processor that rescores only the customers the cut
    moves touch (found in the rank index) ends with the same profiles, the same change events and the same
    rescored customers as one that scans its whole partition on every recompute."""
    evs = sample_events(150, seed=seed)
    chunks = [evs[i : i + 100] for i in range(0, len(evs), 100)]
    clock = lambda: 1_700_000_000_000_000  # noqa: E731 - the same updated_at on both sides
    runs = {}
    for name, partitions in (("movers", PARTITIONS), ("everyone", None)):
        sinks, nxt = TwinSinks(), {p: 0 for p in range(PARTITIONS)}
        proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", now_us=clock, partitions=partitions)

        async def go():
            for chunk in chunks:
                msgs = next_msgs(chunk, nxt)
                half = len(msgs) // 2
                await proc.process(msgs[:half])
                sinks.recompute()  # published, its controls not yet read: the rest is scored with it
                await drive(proc, sinks, msgs[half:], 37, nxt)

        run(go())
        runs[name] = (proc, sinks)
    (narrow, ns), (full, fs) = runs["movers"], runs["everyone"]
    assert ns.profiles == fs.profiles
    def ordered(events):  # a rescore's customers come in another order: compare per customer and version
        return sorted(events, key=lambda e: (e["customer_id"], e["version"], orjson.dumps(e, option=orjson.OPT_SORT_KEYS)))

    assert ordered(ns.changes) == ordered(fs.changes) and ordered(ns.audience) == ordered(fs.audience)
    assert narrow.counters.rescored == full.counters.rescored > 0
    assert narrow.counters.full_rescores == PARTITIONS  # each partition's first rescore compares everyone
    assert narrow.counters.narrow_rescores == (len(chunks) - 1) * PARTITIONS
    assert ns.mover_queries == len(chunks) - 1  # one query per recompute, shared by the partitions' controls
    print("QUERIES", ns.mover_queries, narrow.counters.narrow_rescores)
    assert full.counters.narrow_rescores == 0
    assert_equals_batch(evs, ns)


def _moved_cuts(rng: random.Random, profiles: dict[str, dict], cuts, dimension: int):
    """The cut keys moved by a few ranks each, as a recompute during a steady stream moves them."""
    from stream_app.core.quintiles import Cuts

    population = sorted((p["ranks"][dimension], cid) for cid, p in profiles.items() if p["segment"])
    at = [population.index(k) + rng.randint(-3, 3) for k in cuts.keys]
    return Cuts(tuple(sorted(population[min(max(i, 0), len(population) - 1)] for i in set(at))))


def _takeover(table: DictTable, sinks: TwinSinks, partition: int, offset: int, latest, latest_first: bool,
              partitions: int | None):
    """A new owner, from the table a dead worker left, handles the replayed control and the next one."""
    clock = lambda: 1_700_000_000_000_000  # noqa: E731 - the same updated_at whichever path runs
    successor = Processor(table, sinks, SegmentMap.load(), "orders", now_us=clock, partitions=partitions)
    read_before = len(sinks.read)
    if latest_first:
        sinks.publish_boundaries(latest)  # published before the new owner reached the replayed control
    run(successor.process([Msg(partition, offset, control.CONTROL_KEY, control.encode_rescore(latest.version - 1))]))
    if not latest_first:
        sinks.publish_boundaries(latest)
    run(successor.process([Msg(partition, offset + 1, control.CONTROL_KEY, control.encode_rescore(latest.version))]))
    return successor, sinks.read[read_before:]


@pytest.mark.parametrize("latest_first", [True, False])
@pytest.mark.parametrize("seed", [2, 5, 13, 29])
def test_a_new_owner_compares_with_redis_only_the_candidates_of_the_chain(seed, latest_first):
    """Boundaries v1 -> v2 -> v3 where the cuts of most dimensions move at v2 and back at v3. A worker
    rescores a partition to v2, its Redis writes land and its changelog writes are lost (a kill -9); the new
    owner, from that table, handles the replayed control for v2, then the one for v3 (with latest_first, v3
    was published before it got to the replay, so it rescores straight to v3: the case where customers that
    moved and moved back are unchanged in its state but not in Redis). It must leave every profile as a full
    rescore under v3 does, reading from Redis only candidates of the chain (fewer than the partition's
    customers), and exactly what the old path (everyone scanned, every unchanged profile read) leaves."""
    import copy

    from stream_app.core import stored as codec
    from stream_app.core.movers import chain_intervals
    from stream_app.core.scoring import Boundaries

    rng = random.Random(seed)
    evs = sample_events(150, seed=seed)
    msgs = to_msgs(evs)
    sinks, table = TwinSinks(), DictTable()
    clock = lambda: 1_700_000_000_000_000  # noqa: E731
    first = Processor(table, sinks, SegmentMap.load(), "orders", now_us=clock, partitions=PARTITIONS)
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}
    run(drive(first, sinks, msgs, 37, nxt))
    b1 = sinks.published
    back = rng.sample(range(len(DIMENSIONS)), 3)  # these move at v2 and back at v3; the other one moves twice
    b2 = Boundaries({d: _moved_cuts(rng, sinks.profiles, b1.cuts[d], i) for i, d in enumerate(DIMENSIONS)},
                    b1.customers, 2)
    b3 = Boundaries({d: b1.cuts[d] if i in back else _moved_cuts(rng, sinks.profiles, b2.cuts[d], i)
                     for i, d in enumerate(DIMENSIONS)}, b1.customers, 3)
    part = max(range(PARTITIONS), key=lambda q: sum(1 for m in msgs if m.partition == q))
    mine = {cid for cid in sinks.profiles if partition_of(cid.encode(), PARTITIONS) == part}

    sinks.publish_boundaries(b2)
    table.fail_after = 0  # the changelog write of the rescore's flush never happens; its Redis writes do
    with pytest.raises(RuntimeError):
        run(first.process([Msg(part, nxt[part], control.CONTROL_KEY, control.encode_rescore(2))]))
    table.fail_after = None
    assert sinks.rescored[part] == 1 and any(sinks.profiles[c]["bv"] == 2 for c in mine)

    reference = copy.deepcopy((table, sinks))
    successor, read = _takeover(table, sinks, part, nxt[part], b3, latest_first, PARTITIONS)
    full, full_read = _takeover(*reference, part, nxt[part], b3, latest_first, None)

    segments = SegmentMap.load()
    for cid in mine:
        prof = sinks.profiles[cid]
        if not prof["segment"]:
            continue
        want = b3.score_values(cid, prof["ranks"])
        got = tuple(int(prof[k]) for k in ("r_score", "f_score", "m_score", "aov_score"))
        assert (got, prof["segment"]) == ((want.r, want.f, want.m, want.aov), segments.segment(want.r, want.f)), cid
        scores, segment, _, _, _ = codec.scoring_of(codec.parse(table.data[cid.encode()]))
        assert (scores, segment) == (want, prof["segment"]), cid  # the state agrees with Redis again
    candidates = {cid for cid in mine if any(
        within(chain_intervals([b1, b2, b3])[d], (v, cid)) for d, v in zip(DIMENSIONS, sinks.profiles[cid]["ranks"]))}
    assert successor.counters.takeover_rescores == 1 and successor.counters.full_rescores == 0
    assert read and set(read) <= candidates and len(candidates) < len(mine)
    assert successor.counters.compared <= len(candidates)
    assert full.counters.narrow_rescores == 0 and len(full_read) > len(read)
    if latest_first:  # moved at v2 and back at v3: unchanged in the state, found only by the Redis compare
        assert successor.counters.repaired == full.counters.repaired > 0
    assert sinks.profiles == reference[1].profiles
    assert sorted(map(orjson.dumps, sinks.changes)) == sorted(map(orjson.dumps, reference[1].changes))


@pytest.mark.parametrize("seed", [4, 17])
def test_a_rescore_in_slices_between_batches_leaves_what_a_whole_one_leaves(seed):
    """The worker rescores a few customers after each batch, so events behind a control record wait for a
    slice, not the whole rescore. Events of customers still queued, and a second recompute before the first
    rescore is done, arrive meanwhile. At the end every profile is what rescoring whole leaves, the change
    events chain as they must, and each partition's commit was pinned at its control record exactly while
    its rescore ran."""
    evs = sample_events(150, seed=seed)
    chunks = [evs[i : i + 100] for i in range(0, len(evs), 100)]
    clock = lambda: 1_700_000_000_000_000  # noqa: E731 - the same updated_at on both sides
    runs = {}
    for name, rescore_slice in (("whole", None), ("sliced", 0.0)):
        sinks, nxt = TwinSinks(), {p: 0 for p in range(PARTITIONS)}
        proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", now_us=clock, partitions=PARTITIONS)
        proc.rescore_slice, proc.rescore_chunk = rescore_slice, 7
        pins: list[tuple[int, int | None]] = []
        proc.on_pin = lambda p, offset, pins=pins: pins.append((p, offset))
        busy_batches = 0

        async def go():
            nonlocal busy_batches
            for chunk in chunks:
                msgs = next_msgs(chunk, nxt)
                half = len(msgs) // 2
                await proc.process(msgs[:half])
                busy_batches += bool(proc.jobs)
                ctl = sinks.recompute()
                controls = [Msg(p, nxt[p], control.CONTROL_KEY, ctl) for p in range(PARTITIONS)]
                for p in range(PARTITIONS):
                    nxt[p] += 1
                rest = msgs[half:]
                await proc.process(controls[:1] + rest[:20])  # events right behind a control record
                busy_batches += bool(proc.jobs)
                await proc.process(controls[1:] + rest[20:])
                busy_batches += bool(proc.jobs)
            await drive(proc, sinks, [], 1, nxt)  # the last recompute, over every event
            while proc.jobs:  # the idle stream: the worker's timer runs the slices left
                await proc.process([])

        run(go())
        runs[name] = (proc, sinks, pins, busy_batches)
    (_, ws, wpins, wbusy), (_, ss, spins, sbusy) = runs["whole"], runs["sliced"]

    def scoring(profiles):  # a customer the whole run rescored at v5 and kept at v6 is written once, at v6
        return {cid: {k: v for k, v in p.items() if k not in ("bv", "version")} for cid, p in profiles.items()}

    assert scoring(ss.profiles) == scoring(ws.profiles)
    assert all(ss.profiles[c]["bv"] >= ws.profiles[c]["bv"] for c in ws.profiles)
    assert_equals_batch(evs, ss)
    assert wbusy == 0 and sbusy > 0, "the sliced rescores were still running while later batches were processed"
    assert ss.rescored == ws.rescored == {p: len(chunks) + 1 for p in range(PARTITIONS)}
    for pins in (wpins, spins):
        for p in range(PARTITIONS):
            mine = [offset for q, offset in pins if q == p]
            assert mine and all(a is not None and b is None for a, b in zip(mine[::2], mine[1::2])), mine
            assert len(mine) % 2 == 0  # every pin released


def test_a_rebalance_drops_unfinished_rescores():
    """Their partitions' commits stayed at the control records, so the owners replay them; a dropped job
    must not mark its partition rescored."""
    evs = sample_events(60)
    msgs = to_msgs(evs)
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    proc.rescore_slice, proc.rescore_chunk = 0.0, 3
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}
    run(drive(proc, sinks, msgs, 50, nxt))
    assert proc.jobs
    proc.reassigned()
    assert not proc.jobs
    run(proc.process([]))
    assert sinks.rescored == {}


class DyingSinks(TwinSinks):
    """A worker killed mid-flush: after announcing its events, before delivering them ("publish"), or after
    delivering them and before writing Redis ("write")."""

    def __init__(self):
        super().__init__()
        self.die_at: str | None = None

    async def publish(self, changes, dead, audience=()):
        if self.die_at == "publish":
            raise RuntimeError("killed before delivering")
        await super().publish(changes, dead, audience)

    async def write_profiles(self, writes):
        if self.die_at == "write":
            raise RuntimeError("killed before writing Redis")
        return await super().write_profiles(writes)


def _dying_worker(seed: int, customers: int, sinks: TwinSinks | None = None):
    """Sample events, their records, the sinks (a DyingSinks unless given), a table, a processor on them, and
    the next offsets."""
    evs = sample_events(customers, seed=seed)
    msgs = to_msgs(evs)
    sinks, table = sinks or DyingSinks(), DictTable()
    proc = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    return evs, msgs, sinks, table, proc, {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}


def assert_chains(sinks: TwinSinks):
    """Per customer, the change events (a repeat is the same version again) chain from nothing, each one's
    previous_segment the segment before it, up to the profile Redis holds: what subscribers saw last is it."""
    chains: dict[str, list[dict]] = {}
    for ch in sinks.changes:
        chain = chains.setdefault(ch["customer_id"], [])
        if chain and ch["version"] == chain[-1]["version"]:
            assert ch == chain[-1]
            continue
        assert not chain or ch["version"] > chain[-1]["version"], ch
        assert ch["previous_segment"] == (chain[-1]["segment"] if chain else None), ch
        chain.append(ch)
    for cid, p in sinks.profiles.items():
        if p["segment"]:
            last = chains[cid][-1]
            assert (last["segment"], last["r_score"], last["f_score"], last["m_score"], last["aov_score"]) == (
                p["segment"], int(p["r_score"]), int(p["f_score"]), int(p["m_score"]), int(p["aov_score"])), cid
    assert not sinks.pending, "every announcement settled by its profile write"


@pytest.mark.parametrize("die_at", ["publish", "write"])
@pytest.mark.parametrize("latest_first", [True, False])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_worker_killed_between_its_events_and_redis_loses_no_event(seed, latest_first, die_at):
    """A worker rescores a partition to v2 and dies in the flush, after announcing the events and before
    (or after) delivering them, before writing Redis. v3 cuts like v1, so its successor scores most of those
    customers back to what Redis holds: deciding against Redis alone sent nothing, and subscribers kept the
    v2 scoring they had been sent. The announcement makes the successor deliver those events (again) and
    decide against them."""
    rng = random.Random(seed)
    _, msgs, sinks, table, first, nxt = _dying_worker(seed, 150)
    run(drive(first, sinks, msgs, 37, nxt))
    b1 = sinks.published
    b2 = Boundaries({d: _moved_cuts(rng, sinks.profiles, b1.cuts[d], i) for i, d in enumerate(DIMENSIONS)},
                    b1.customers, b1.version + 1)
    part = 0
    sinks.publish_boundaries(b2)
    sinks.die_at = die_at
    delivered = len(sinks.changes)
    with pytest.raises(RuntimeError):
        run(first.process([Msg(part, nxt[part], control.CONTROL_KEY, control.encode_rescore(b2.version))]))
    sinks.die_at = None
    assert sinks.pending and (len(sinks.changes) > delivered) is (die_at == "write")
    _takeover(table, sinks, part, nxt[part], Boundaries(b1.cuts, b1.customers, b1.version + 2), latest_first,
              PARTITIONS)
    assert_chains(sinks)


@pytest.mark.parametrize("die_at", ["publish", "write"])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_a_batch_replayed_after_such_a_death_under_newer_boundaries_loses_no_event(seed, die_at):
    """The same death in a batch of events; the successor replays it in other batches, under boundaries
    published meanwhile, from an older committed offset."""
    rng = random.Random(seed)
    evs, msgs, sinks, table, proc, nxt = _dying_worker(seed, 80)
    half = len(msgs) // 2

    async def go():
        await drive(proc, sinks, msgs[:half], 13, dict(nxt))
        sinks.die_at = die_at
        with pytest.raises(RuntimeError):
            await proc.process(msgs[half : half + 60])
        sinks.die_at = None
        b = sinks.published
        sinks.publish_boundaries(Boundaries({d: _moved_cuts(rng, sinks.profiles, b.cuts[d], i)
                                             for i, d in enumerate(DIMENSIONS)}, b.customers, b.version + 1))
        restarted = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
        await drive(restarted, sinks, msgs[half - 20 :], 7, nxt)

    run(go())
    assert_chains(sinks)
    assert_equals_batch(evs, sinks)


class SlowMovers(TwinSinks):
    """A movers query that answers only when the test lets it, and fails once when told to."""

    def __init__(self):
        super().__init__()
        self.gate: asyncio.Event | None = None
        self.fail_next = False
        self.asked = 0

    async def movers(self, spans):
        self.asked += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("Redis went away mid-query")
        return await super().movers(spans)


@pytest.mark.parametrize("fail", [False, True])
def test_events_behind_a_control_do_not_wait_for_its_movers_query(fail):
    """The query runs while the batches go on; the rescore starts when it answers (or after a failed one is
    asked again: the batch that finds it failed raises, as a server fault, and is retried) and ends as a
    whole rescore does."""
    evs = sample_events(120, seed=9)
    first, later = evs[: len(evs) // 2], evs[len(evs) // 2 :]
    clock = lambda: 1_700_000_000_000_000  # noqa: E731
    results = {}
    for name in ("whole", "sliced"):
        sinks, nxt = SlowMovers(), {p: 0 for p in range(PARTITIONS)}
        proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", now_us=clock, partitions=PARTITIONS)
        if name == "sliced":
            proc.rescore_slice = 0.0

        async def go():
            await drive(proc, sinks, next_msgs(first, nxt), 50, nxt)  # the first rescore of each: a scan
            while proc.jobs:
                await proc.process([])
            ctl = sinks.recompute()
            controls = [Msg(p, nxt[p], control.CONTROL_KEY, ctl) for p in range(PARTITIONS)]
            for p in range(PARTITIONS):
                nxt[p] += 1
            if name == "sliced":
                sinks.gate, sinks.fail_next = asyncio.Event(), fail
            written = len(sinks.changes)
            await proc.process(controls + next_msgs(later[:30], nxt))
            if name == "sliced":
                assert proc.jobs and all(job.queries for job in proc.jobs.values()), "the query is still out"
                assert len(sinks.changes) > written, "the events behind the controls were scored meanwhile"
                sinks.gate.set()
                if fail:
                    with pytest.raises(ConnectionError):
                        for _ in range(10):
                            await proc.process([])
                    assert all(job.queries for job in proc.jobs.values())
            while proc.jobs:
                await proc.process([])
            await drive(proc, sinks, next_msgs(later[30:], nxt), 50, nxt)
            while proc.jobs:
                await proc.process([])

        run(go())
        results[name] = (proc, sinks)
    (_, ws), (sliced, ss) = results["whole"], results["sliced"]
    assert ss.profiles == ws.profiles
    assert sliced.counters.narrow_rescores == 2 * PARTITIONS
    assert ss.asked == 2 + fail  # one per recompute, shared by the partitions; a failed one asked again
    assert_equals_batch(evs, ss)
    assert_chains(ss)
