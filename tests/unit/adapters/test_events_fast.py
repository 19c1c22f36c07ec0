"""The column-wise events reader accepts exactly what the line-by-line reader accepts, as the same frame.

Both readers run on the fixtures, on a generated history, and on that history with
one hostile line put at a random place: the frames must be equal (columns, types and
line numbers), and where the line-by-line reader refuses the file, the reader users
get (events.read) must refuse it with the same line, field and reason. Valid files
must actually take the column-wise path, or it would be speed that never happens.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_app.adapters import events, events_fast
from stream_app.core.validate import limits
from stream_app.errors import BadInput
from stream_app.tools.synthetic import generate_lines

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def outcome(read, path: Path):
    """("ok", frame) or ("error", the one-line message)."""
    try:
        return "ok", read(str(path))
    except BadInput as exc:
        return "error", str(exc)


def assert_same_frame(got, expected) -> None:
    pd.testing.assert_frame_equal(got.df, expected.df, check_exact=True)
    assert list(got.records) == list(expected.records)
    assert [got.line_of(int(r)) for r in got.records] == [expected.line_of(int(r)) for r in expected.records]


def assert_readers_agree(path: Path) -> str:
    """Both readers on one file; returns "fast", "fallback" or "refused" for the caller to check the path taken."""
    expected_kind, expected = outcome(events.read_lines, path)
    fast = events_fast.read_jsonl(str(path))
    if fast is not None:  # the fast path vouched: the line-by-line reader must give the same frame
        assert expected_kind == "ok", f"the fast path accepted a file the validator refuses: {expected}"
        assert_same_frame(fast, expected)
    kind, got = outcome(events.read, path)
    assert kind == expected_kind, (got, expected)
    if kind == "error":
        assert got == expected
        return "refused"
    assert_same_frame(got, expected)
    return "fast" if fast is not None else "fallback"


def history(n: int = 200, seed: int = 3) -> list[str]:
    return [line.decode() for line in generate_lines(40, n, seed)]


def order(**over) -> str:
    event = {"type": "order", "customer_id": "c1", "occurred_at": "2011-01-01T00:00:00Z", "order_id": "x", "amount": 1}
    event.update(over)
    return json.dumps(event, ensure_ascii=False)


def write(path: Path, lines: list[str], end: str = "\n") -> Path:
    data = end.join(lines).encode("utf-8", "surrogatepass") + end.encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name", ["events_valid.jsonl", "events_invalid.jsonl"])
def test_fixtures(name):
    taken = assert_readers_agree(FIXTURES / name)
    assert taken == ("fast" if "valid" == name.split("_")[1].split(".")[0] else "refused")


@pytest.mark.parametrize("gz", [False, True])
def test_a_generated_history_takes_the_fast_path(tmp_path, gz):
    src = write(tmp_path / ("h.jsonl.gz" if gz else "h.jsonl"), history(3000))
    assert assert_readers_agree(src) == "fast"


def test_lines_the_fast_checks_leave_to_the_validator(tmp_path):
    """Rows it does not vouch for but the validator accepts: the file is still read, with the validator's values."""
    odd = [
        # half cents whose float times 100 rounds the other way than the decimal the validator reads
        order(amount=0.545), order(amount=1.015), order(amount=999999999.995),
        order(amount=1.005), order(amount=0.001), order(amount=0.30000000000000004), order(amount=5e-324), order(amount=-0.0), order(amount=10**9), order(type="return", amount=-2.5),
        order(occurred_at="2011-01-01t00:00:00z"), order(occurred_at="2011-01-01T00:00:00.1234567Z"),
        order(occurred_at="1899-12-31T23:00:00-01:00"), order(occurred_at="2000-02-29T23:59:59.5+14:00"),
        '{"type":"snapshot","customer_id":"s1","occurred_at":"2021-02-26T00:00:00Z","orders":5,"monetary":939.37,'
        '"first_order_at":"2020-10-30T00:00:00Z","last_order_at":"2021-02-26T00:00:00Z","categories":["A"]}',
        '{"type":"order","customer_id":"c1","occurred_at":"2011-01-01T00:00:00Z","order_id":"x","amount":"1","amount":2}',
        order(unknown={"any": [1, None]}), order(categories=[]), order(categories=["a"] * 64), order(order_id="é" * 128),
        "", "   \t", "\x0b",
    ]
    lines = history(50)
    for i, line in enumerate(odd):
        lines.insert(3 * i + 1, line)
    assert assert_readers_agree(write(tmp_path / "odd.jsonl", lines)) == "fast"
    assert assert_readers_agree(write(tmp_path / "crlf.jsonl", lines, end="\r\n")) == "fast"
    (tmp_path / "bom.jsonl").write_bytes("\ufeff".encode() + (tmp_path / "odd.jsonl").read_bytes())
    assert assert_readers_agree(tmp_path / "bom.jsonl") == "fast"


HOSTILE = [
    *[line for line in (FIXTURES / "events_invalid.jsonl").read_text().splitlines() if line.strip()],
    order(occurred_at="0001-01-01T00:00:00+01:00"), order(occurred_at="9999-12-31T00:00:00Z"),
    order(occurred_at="1900-01-01T00:30:00+01:00"), order(occurred_at="2011-02-29T00:00:00Z"),
    order(occurred_at="1900-02-29T00:00:00Z"), order(occurred_at="2011-01-01T23:59:60Z"),
    order(occurred_at="2011-01-01T24:00:00Z"), order(occurred_at="2011-01-01T00:00:00+24:00"),
    order(occurred_at="2011-01-01 00:00:00Z"), order(occurred_at="2011-01-01T00:00:00.Z"),
    order(occurred_at="2011-01-01T00:00:00.1234567890Z"), order(occurred_at="\u0662011-01-01T00:00:00Z"),
    order(occurred_at="2011-01-01T00:00:00Z\n"), order(occurred_at="0000-01-01T00:00:00Z"),
    order(occurred_at="2011-13-01T00:00:00Z"), order(occurred_at=None),
    order(customer_id="\u0661\u0662"), order(customer_id="7" * 200), order(customer_id="abc\n"), order(customer_id=""),
    order(customer_id=None), order(customer_id=["a"]), order(customer_id="a b"),
    order(amount=1e9 + 1), order(amount=1e9 + 0.01), order(amount=-0.01), order(amount=True), order(amount=None),
    order(amount=10**30), order(amount=2**64 - 1), order(amount="1"), order(type="return", amount=0.01),
    order(order_id=""), order(order_id="x" * 129), order(order_id=5), order(order_id=None),
    order(currency="gbp"), order(currency="GBP\n"), order(currency=None), order(currency="GBPX"),
    order(channel="c" * 65), order(country=1), order(categories=[""]), order(categories=["x" * 65]),
    order(categories=["a"] * 65), order(categories="A"), order(categories=[1]), order(categories=None),
    order(orders=1), order(monetary="x"), order(first_order_at="x"), order(type="snapshot"), order(type=None),
    '{"type":"snapshot","customer_id":"s1","occurred_at":"2021-02-26T00:00:00Z","orders":5,"monetary":9,'
    '"first_order_at":"2021-03-01T00:00:00Z","last_order_at":"2021-02-26T00:00:00Z"}',
    '{"type":"order","customer_id":"c1","occurred_at":"2011-01-01T00:00:00Z","order_id":"x","amount":1,"amount":"1"}',
    '{"type":"order","customer_id":"c1","occurred_at":"2011-01-01T00:00:00Z","order_id":"x","amount":1e400}',
    '{"type":"order","customer_id":"c1","occurred_at":"2011-01-01T00:00:00Z","order_id":"x","amount":NaN}',
    '{"type":"order","customer_id":"\\ud800","occurred_at":"2011-01-01T00:00:00Z","order_id":"x","amount":1}',
    order() + " " + order(), order() + "," + order(), '{"type":"order",', "[1]", "null", '"order"', "1", "{}",
    "\x1c", "\xa0", "\ufeff" + order(),
]


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("bad", range(len(HOSTILE)))
def test_one_hostile_line_at_a_random_place(tmp_path, bad, gz):
    rng = random.Random(bad)
    lines = history(120, seed=bad)
    lines.insert(rng.randrange(len(lines) + 1), HOSTILE[bad])
    assert_readers_agree(write(tmp_path / ("h.jsonl.gz" if gz else "h.jsonl"), lines))


@pytest.mark.parametrize("raw", [b"caf\xe9", b"\xed\xa0\x80", b"\xff\xfe", b"\xc3"])
def test_bytes_that_are_not_utf8(tmp_path, raw):
    lines = [line.encode() for line in history(60)]
    lines.insert(30, order(order_id="X").encode().replace(b"X", raw))
    src = tmp_path / "h.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    assert assert_readers_agree(src) == "refused"


def test_truncated_gzip(tmp_path):
    src = tmp_path / "h.jsonl.gz"
    src.write_bytes(gzip.compress("\n".join(history(2000)).encode())[:-40])
    assert assert_readers_agree(src) == "refused"


def test_lines_longer_than_a_block(tmp_path, monkeypatch):
    monkeypatch.setattr(events_fast, "BLOCK", 97)  # every line straddles blocks; some blocks hold no line end
    lines = history(300)
    lines.insert(17, "")
    lines.insert(40, order(channel="c" * 60, unknown="u" * 500))
    assert assert_readers_agree(write(tmp_path / "h.jsonl", lines)) == "fast"
    (tmp_path / "n.jsonl").write_bytes(b"\n".join(x.encode() for x in lines))  # no line end at the end
    assert assert_readers_agree(tmp_path / "n.jsonl") == "fast"


def test_blocks_parsed_in_processes_give_the_same_frame(tmp_path, monkeypatch):
    """Blocks cut here and parsed by two processes, in any order of finishing, make the one-process frame;
    a block refused midway still means "read it line by line"."""
    monkeypatch.setattr(events_fast, "BLOCK", 4096)  # about 30 blocks, cut in this process
    lines = history(3000)
    lines.insert(5, "")  # a blank line: the numbering of later blocks counts it
    lines.insert(1200, order(customer_id="c7", amount=1.005))  # not whole cents: parse() decides that row
    src = write(tmp_path / "h.jsonl", lines, end="\n")
    serial = events_fast.read_jsonl(str(src), workers=1)
    parallel = events_fast.read_jsonl(str(src), workers=2)
    assert serial is not None and parallel is not None
    assert_same_frame(parallel, serial)
    assert_same_frame(parallel, events.read_lines(str(src)))
    bad = write(tmp_path / "bad.jsonl", [*lines[:2500], "{not json", *lines[2500:]])
    assert events_fast.read_jsonl(str(bad), workers=2) is None


event_values = {
    "type": st.sampled_from(["order", "return", "snapshot", "x"]),
    "customer_id": st.sampled_from(["17850", "a" * 64, "a" * 65, "\u0661\u0662", "", 7, "a:b@c.d-e_f"]) | st.text(max_size=4),
    "occurred_at": st.sampled_from(["2011-01-04T10:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z",
                                    "2011-02-30T00:00:00Z", "2011-01-04", 5, "2011-01-04T10:00:00.5-03:30",
                                    "2012-02-29T10:00:00.000001+00:00", "1900-01-01T00:00:00Z"]),
    "order_id": st.sampled_from(["a", "", "x" * 128, "x" * 129, None, 3]),
    "amount": st.sampled_from([0, 1.5, -1, 1e9, 1e9 + 0.01, -1e308, 10**30, "1", None, 0.1, 0.125, -0.0, 123456.78,
                               -999999999.99, True]) | st.floats(-2e9, 2e9) | st.integers(-2 * 10**9, 2 * 10**9),
    "orders": st.sampled_from([0, 10**7, 10**7 + 1, -1, 1.5, 2.0]),
    "monetary": st.sampled_from([0, 12.34, 1e9 + 1, -5]),
    "first_order_at": st.sampled_from(["2010-01-01T00:00:00Z", "1899-01-01T00:00:00Z", "x"]),
    "last_order_at": st.sampled_from(["2011-01-01T00:00:00Z", "2012-01-01T00:00:00Z"]),
    "categories": st.sampled_from([[], ["A"], [""], ["x" * 64], ["x" * 65], ["a"] * 64, ["a"] * 65, "A", [None]]),
    "currency": st.sampled_from(["GBP", "gbp", 1, None]),
    "channel": st.sampled_from(["web", "c" * 64, "c" * 65, None]),
    "extra": st.sampled_from([1, None, "x"]),
}
required = {"type": st.sampled_from(["order", "return"]), "customer_id": st.sampled_from(["c1", "c2"]),
            "occurred_at": st.sampled_from(["2011-01-04T10:00:00Z", "2011-01-04T10:00:00.25+01:00"]),
            "order_id": st.sampled_from(["o1", "o2"]), "amount": st.sampled_from([0, 1, 2.5, -3.75])}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objs=st.lists(st.builds(lambda base, over, drop: {k: v for k, v in {**base, **over}.items() if k not in drop},
                               st.fixed_dictionaries(required), st.fixed_dictionaries({}, optional=event_values),
                               st.sets(st.sampled_from(sorted(required)), max_size=1)), min_size=1, max_size=6),
       at=st.integers(0, 30))
def test_random_events_among_valid_ones(tmp_path, objs, at):
    lines = history(30)
    for obj in objs:
        lines.insert(at, json.dumps(obj, ensure_ascii=False))
    assert_readers_agree(write(tmp_path / "fuzz.jsonl", lines))


#: the fields the reader takes as Arrow's distinct strings (events_fast._distinct_arrow)
ARROW_STRINGS = ("type", "customer_id", "order_id", "currency", "channel", "country")


def arrow_view(lines: list[str]):
    """What the reader takes from Arrow for these lines, or None where it takes orjson's objects."""
    whole = "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass")
    n = sum(1 for line in lines if line.strip())
    table = events_fast._arrow_table(whole, n)
    if table is None:
        return None
    get = events_fast._arrow_getter(table, n)

    def view(name: str) -> list:
        if name == "order_id":
            column, _ = events_fast._lengths_arrow(table, name, n, 0, 0)
        elif name in ARROW_STRINGS:
            column, _ = events_fast._distinct_arrow(table, name, n, lambda v: True, optional=True)
        else:
            return get(name)
        return [events_fast._ABSENT if v is None else v for v in column]

    return view


def assert_arrow_agrees_with_orjson(lines: list[str]) -> bool:
    """Where Arrow's values are used, each vouched field of each row is orjson's value (a number as a number)."""
    get = arrow_view(lines)
    if get is None:
        return False
    objs = [orjson.loads(line) for line in lines if line.strip()]
    for name in events_fast.VOUCHED_FIELDS:
        for got, obj in zip(get(name), objs):
            want = obj.get(name, events_fast._ABSENT)
            if name == "amount" and type(want) in (int, float):
                assert type(got) in (int, float), (got, want)
                if abs(want) > 2**53:  # beyond the amounts the checks vouch for, in either parse
                    assert abs(got) > limits().amount_cents[1] / 100, (got, want)
                else:
                    assert got == want, (got, want)
            else:
                assert type(got) is type(want) and (got == want or got is want), (name, got, want)
    return True


def test_arrow_values_are_used_for_a_generated_history():
    assert assert_arrow_agrees_with_orjson(history(500))


@pytest.mark.parametrize("bad", range(len(HOSTILE)))
def test_arrow_values_beside_a_hostile_line_are_orjsons_or_unused(bad):
    lines = history(40, seed=bad)
    lines.insert(bad % 40, HOSTILE[bad])
    try:
        objs_ok = all(type(orjson.loads(line)) is dict for line in lines if line.strip())
    except orjson.JSONDecodeError:
        objs_ok = False
    if objs_ok:  # orjson would judge the rest; where Arrow is used its values must be orjson's
        assert_arrow_agrees_with_orjson(lines)


@settings(max_examples=200, deadline=None)
@given(objs=st.lists(st.builds(lambda base, over: {**base, **over}, st.fixed_dictionaries(required),
                               st.fixed_dictionaries({}, optional=event_values)), min_size=1, max_size=6))
def test_arrow_values_of_random_events_are_orjsons_or_unused(objs):
    lines = history(10) + [json.dumps(o, ensure_ascii=False) for o in objs]
    assert_arrow_agrees_with_orjson(lines)
