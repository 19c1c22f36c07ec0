"""A column-wise reader for events files that are valid, with the line-by-line reader as its judge.

Checking every line with the worker's validator (:func:`stream_app.core.validate.parse`)
costs tens of microseconds an event, which makes reading a history of millions of
orders the slowest part of a bootstrap. This reader parses each line with the same
JSON parser (orjson, so duplicate keys, escapes, huge numbers and bad UTF-8 behave
as they do line by line), then checks whole columns against the contract read from
its one source (:func:`~stream_app.core.validate.limits`, the schema's property
names, the pattern of :func:`~stream_app.core.validate.customer_id_pattern`).

It only ever *vouches*: a row whose every field passes checks that are as strict as
the schema and the validator, or stricter (ASCII-only times with at most 6 decimals,
amounts that are whole cents), is taken from its columns; any other row is given to
:func:`parse` itself, and its event used. The moment anything is refused - a line
that is not JSON, not UTF-8, not an object, a row :func:`parse` refuses, a broken gzip
stream - this reader gives up (returns None) and the caller reads the file line by
line, which names the first bad line, its field and the reason. So this reader
never changes what a file is accepted as nor any error message; it makes valid
files fast. tests/unit/adapters/test_events_fast.py holds it to that.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import BinaryIO

import numpy as np
import orjson
import pandas as pd

from stream_app.adapters import textfile
from stream_app.adapters.frame import COLUMNS, MISSING_TIME, EventFrame, normalise
from stream_app.core.model import ORDER, RETURN
from stream_app.core.validate import ORDER_EVENT_SCHEMA, limits, load_schema, parse
from stream_app.errors import BadEvent, BadInput

#: bytes read at a time (whole lines are cut from it): bounds the memory of the parsed objects alive at once
BLOCK = 16 << 20
BOM = "\ufeff".encode()
#: the fields this reader checks column-wise; a row with another field of the schema (a snapshot's) goes to parse()
VOUCHED_FIELDS = frozenset({"type", "customer_id", "occurred_at", "order_id", "amount", "currency", "channel",
                            "country", "categories"})
_ABSENT = object()
#: the longest time this reader vouches for: 19 + "." + 6 digits + "+HH:MM"
_TIME_WIDTH = 32
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
#: from this many bytes on disk a file's blocks are parsed in parallel processes (workers=None): below it a
#: process pool's start (importing the readers' libraries in each process) costs more than it saves
PARALLEL_FROM_BYTES = 256 << 20


def read_jsonl(path: str, now_us: int | None = None, workers: int | None = None) -> EventFrame | None:
    """The file's events as a frame (what the line-by-line reader gives), or None: read it line by line.

    ``workers``: processes parsing blocks at once (None: one per core for a file of ``PARALLEL_FROM_BYTES``
    or more, else 1). Parsing is CPU-bound Python and takes most of the time, so a history of 10M orders
    (1.4 GB) is read in parallel; each block is cut from the file here, parsed in a process, and its
    columns come back in the file's order, so the frame is the same whatever the number of workers.
    """
    now_us = now_us if now_us is not None else int(time.time() * 1_000_000)
    other_fields = frozenset(load_schema(ORDER_EVENT_SCHEMA.name)["properties"]) - VOUCHED_FIELDS
    workers = _workers(path, workers)
    try:
        parts = _parts(path, now_us, other_fields, workers)
    except BrokenProcessPool:
        # a process could not start or was killed (out of memory): the file is read in this process instead
        parts = _parts(path, now_us, other_fields, 1)
    if parts is None:
        return None
    columns = {c: np.concatenate([p[c] for p in parts]) if parts else np.empty(0, object) for c in [*COLUMNS, "line"]}
    lines = columns.pop("line").astype(np.int64)
    # object columns stay object: pandas would infer Arrow-backed strings that normalise() turns back
    df = pd.DataFrame({c: pd.Series(columns[c], dtype=columns[c].dtype, copy=False) for c in COLUMNS})
    frame = EventFrame(normalise(df), str(path))
    frame.records = lines
    frame.line_of = int  # records are line numbers, as the line-by-line reader gives them
    frame.contract_checked = True
    return frame


def _parts(path: str, now_us: int, other_fields: frozenset[str], workers: int) -> list[dict[str, np.ndarray]] | None:
    """Every block's columns, or None: read the file line by line."""
    parts: list[dict[str, np.ndarray]] = []
    try:
        with textfile.open_binary(path) as fh:
            for part in _parsed(_line_blocks(fh), now_us, other_fields, workers):
                if part is None:
                    return None
                parts.append(part)
    except (BadInput, OSError, UnicodeDecodeError, *textfile.GZIP_ERRORS):
        return None
    return parts


def _workers(path: str, workers: int | None) -> int:
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main is not None and not os.path.exists(main):
        return 1  # a spawned process imports __main__ again: `python -` has none to import
    if workers is not None:
        return max(1, workers)
    try:
        if os.path.getsize(path) < PARALLEL_FROM_BYTES:
            return 1
    except OSError:
        return 1  # open_binary names the problem
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _parsed(blocks: Iterator[tuple[int, bytes]], now_us: int, other_fields: frozenset[str], workers: int
            ) -> Iterator[dict[str, np.ndarray] | None]:
    """Each block's columns (:func:`_parse_block`) in the file's order, parsed by ``workers`` processes.

    At most two blocks a worker are parsed or waiting at once, so memory holds a few blocks, not the file.
    The processes are spawned, not forked: the caller may hold threads (Arrow's, a Kafka client's) whose
    locks a fork would copy held.
    """
    if workers <= 1:
        for first_line, whole in blocks:
            yield _parse_block(first_line, whole, now_us, other_fields)
        return
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        waiting: deque[Future] = deque()
        try:
            for first_line, whole in blocks:
                waiting.append(pool.submit(_parse_block, first_line, whole, now_us, other_fields))
                if len(waiting) >= 2 * workers:
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()
        finally:
            for future in waiting:  # a refused block: the blocks after it are not needed
                future.cancel()


def _parse_block(first_line: int, whole: bytes, now_us: int, other_fields: frozenset[str]
                 ) -> dict[str, np.ndarray] | None:
    lines = whole.split(b"\n")
    if whole.endswith(b"\n"):
        lines.pop()
    return _columns(first_line, lines, whole, now_us, other_fields)


def _line_blocks(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, bytes) of blocks of whole lines, UTF-8 checked, a leading BOM dropped as
    text_lines does.

    Lines end at b"\\n" only, as Python's binary file iteration cuts them.
    """
    rest, line, first = b"", 1, True
    while True:
        block = fh.read(BLOCK)
        data = rest + block
        end = len(data) if not block else data.rfind(b"\n") + 1
        whole, rest = data[:end], data[end:]
        if whole:
            whole.decode("utf-8")  # raises UnicodeDecodeError (a BadInput line by line)
            if first and whole.startswith(BOM):
                whole = whole[len(BOM):]
            first = False
            yield line, whole
            line += whole.count(b"\n") + (not whole.endswith(b"\n"))  # the lines _parse_block cuts
        if not block:
            return


def _columns(first_line: int, lines: list[bytes], whole: bytes, now_us: int, other_fields: frozenset[str]
             ) -> dict[str, np.ndarray] | None:
    """The frame columns of a block of lines (plus "line"), or None when a line is not an event parse() accepts.

    orjson parses every line (it is the judge of what is JSON, as line by line); the field values are taken
    from Arrow's parse of the block when it has the same shape (:func:`_arrow_table`), which spares a
    Python lookup per field and row, and from orjson's objects otherwise.
    """
    numbers = [i for i, raw in enumerate(lines, first_line) if raw.strip()]
    loads = orjson.loads
    try:
        objs = [loads(lines[i - first_line]) for i in numbers] if len(numbers) < len(lines) else [
            loads(raw) for raw in lines]
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        return None
    n = len(objs)
    if not all(type(o) is dict for o in objs):
        return None
    lim = limits()
    table = _arrow_table(whole, n)
    if table is not None:
        get = _arrow_getter(table, n)
        no_other_fields = np.ones(n, bool)  # Arrow's columns are all vouched fields

        def strings(name: str, test, optional: bool = False) -> tuple[np.ndarray, np.ndarray]:
            return _distinct_arrow(table, name, n, test, optional)
    else:
        def get(name: str) -> list:
            return [o.get(name, _ABSENT) for o in objs]

        no_other_fields = np.fromiter((o.keys().isdisjoint(other_fields) for o in objs), bool, n)

        def strings(name: str, test, optional: bool = False) -> tuple[np.ndarray, np.ndarray]:
            return _distinct_strings(get(name), test, optional)

    kinds, _ = strings("type", lambda v: True)
    is_order, is_return = kinds == ORDER, kinds == RETURN
    ok = (is_order | is_return) & no_other_fields

    customer_ids, ids_ok = strings("customer_id", lambda v: lim.customer_id.fullmatch(v) is not None)
    ok &= ids_ok

    occurred, times_ok = _times(get("occurred_at"))
    ok &= times_ok & (occurred >= lim.earliest_us) & (occurred <= now_us + lim.future_tolerance_us)

    shortest, longest = lim.order_id_length
    if table is not None:  # nearly every order id is distinct: their lengths are counted in C++
        order_ids, order_ids_ok = _lengths_arrow(table, "order_id", n, shortest, longest)
    else:
        order_ids, order_ids_ok = strings("order_id", lambda v: shortest <= len(v) <= longest)
    ok &= order_ids_ok

    amounts = get("amount")
    numeric = np.fromiter((type(v) is int or type(v) is float for v in amounts), bool, n)
    value = np.array([v if ok_ else 0 for v, ok_ in zip(amounts, numeric)], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        cents = np.rint(value * 100)
    low, high = lim.amount_cents
    # whole cents only: then the shortest repr of the float, which to_cents reads, is cents/100 exactly
    ok &= numeric & (cents / 100 == value) & (cents >= low) & (cents <= high)
    ok &= np.where(is_order, cents >= 0, cents <= 0)

    currency, currency_ok = strings("currency", lambda v: lim.currency.fullmatch(v) is not None, optional=True)
    ok &= currency_ok
    texts = {}
    for name, most in lim.text_length.items():
        texts[name], text_ok = strings(name, lambda v, most=most: len(v) <= most, optional=True)
        ok &= text_ok
    categories, categories_ok = _categories(get("categories"), lim)
    ok &= categories_ok

    cols = {
        "type": kinds,
        "customer_id": customer_ids,
        "order_id": order_ids,
        "occurred_us": occurred,
        "amount_cents": np.where(ok, cents, 0).astype(np.int64),
        "orders": np.zeros(n, np.int64),
        "monetary_cents": np.zeros(n, np.int64),
        "first_order_us": np.full(n, MISSING_TIME, np.int64),
        "last_order_us": np.full(n, MISSING_TIME, np.int64),
        "currency": currency,
        **texts,
        "categories": categories,
        "line": np.asarray(numbers if len(numbers) < len(lines) else range(first_line, first_line + n), np.int64),
    }
    for row in np.flatnonzero(~ok):  # rows not vouched for: the worker's validator decides, as line by line
        try:
            event = parse(objs[row])
        except BadEvent:
            return None
        for name in COLUMNS:
            cols[name][row] = _cell(event, name)
    return cols


def _arrow_types() -> dict:
    """The Arrow types each vouched field may have for Arrow's values to be used (else orjson's objects are)."""
    import pyarrow as pa

    text = (pa.string(), pa.large_string())
    return {"type": text, "customer_id": text, "occurred_at": text, "order_id": text, "currency": text,
            "channel": text, "country": text, "amount": (pa.float64(), pa.int64()),
            "categories": (pa.list_(pa.string()), pa.list_(pa.large_string()))}


def _arrow_table(whole: bytes, n: int):
    """Arrow's parse of the block, or None when it may differ from orjson's objects.

    Arrow is used only where its values are orjson's: the block has no ``null`` (Arrow cannot tell a null
    from an absent field, which the validator can), every column is a vouched field of the expected type,
    and there is one row per non-blank line. Values the checks do not vouch for are judged from orjson's
    object of the row, so Arrow's number parsing or leniency (NaN, a BOM inside the file) never decides.
    """
    import pyarrow as pa
    import pyarrow.json as pj

    if b"null" in whole:
        return None
    try:
        table = pj.read_json(pa.BufferReader(whole), parse_options=pj.ParseOptions(newlines_in_values=False))
    except Exception:  # any parse Arrow cannot do alike (duplicate keys, mixed types): orjson's objects decide
        return None
    types = _arrow_types()
    if table.num_rows != n or any(f.name not in types or f.type not in types[f.name] for f in table.schema):
        return None
    return table


def _arrow_getter(table, n: int):
    """``get(name)``: a column of Arrow's parse as a list, ``_ABSENT`` where the field is."""
    def get(name: str) -> list:
        if name not in table.column_names:
            return [_ABSENT] * n
        column = table.column(name)
        values = column.to_pylist()
        return values if not column.null_count else [_ABSENT if v is None else v for v in values]

    return get


def _cell(event, name: str):
    """What events_to_frame puts in column ``name`` for ``event``."""
    if name in ("first_order_us", "last_order_us"):
        value = getattr(event, name)
        return MISSING_TIME if value is None else value
    return getattr(event, name)


def _distinct_arrow(table, name: str, n: int, test, optional: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_distinct_strings` of a string column of Arrow's parse, the distinct values found by Arrow
    (in C++: no Python string per row until the column is built). A null is an absent field."""
    import pyarrow.compute as pc

    if name not in table.column_names:
        return _nones(n), np.full(n, optional)
    encoded = pc.dictionary_encode(table.column(name).combine_chunks())  # one dictionary for the block
    codes = pc.fill_null(encoded.indices, -1).to_numpy()
    column, ok = _from_codes(codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object), test)
    if optional:
        ok |= codes < 0
    return column, ok


def _lengths_arrow(table, name: str, n: int, shortest: int, longest: int) -> tuple[np.ndarray, np.ndarray]:
    """(column, passes) of a required string column of Arrow's parse whose values must be ``shortest`` to
    ``longest`` characters (code points, as Python's len counts them)."""
    import pyarrow.compute as pc

    if name not in table.column_names:
        return _nones(n), np.zeros(n, bool)
    values = table.column(name).combine_chunks()
    lengths = pc.fill_null(pc.utf8_length(values), -1).to_numpy()
    return values.to_numpy(zero_copy_only=False), (lengths >= shortest) & (lengths <= longest)


def _distinct_strings(values: list, test, optional: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(column, passes) for a string field: ``test`` is asked once per distinct string; an absent optional
    field passes and becomes None; anything that is not a string fails (parse() will say why)."""
    strings = [v if type(v) is str else None for v in values]
    codes, uniques = pd.factorize(np.array(strings, dtype=object), use_na_sentinel=True)
    column, ok = _from_codes(codes, np.asarray(uniques, dtype=object), test)
    if optional:
        ok |= np.fromiter((v is _ABSENT for v in values), bool, len(values))
    return column, ok


def _from_codes(codes: np.ndarray, uniques: np.ndarray, test) -> tuple[np.ndarray, np.ndarray]:
    """(column, passes) of a factorized string column (code -1: no string there, which fails): ``test`` is
    asked once per distinct value."""
    passes = np.fromiter((bool(test(u)) for u in uniques), bool, len(uniques))
    column = _nones(len(codes))
    has = codes >= 0
    if len(uniques):
        column[has] = uniques[codes[has]]
    ok = np.zeros(len(codes), bool)
    ok[has] = passes[codes[has]]
    return column, ok


def _nones(n: int) -> np.ndarray:
    column = np.empty(n, dtype=object)
    column[:] = None
    return column


def _categories(values: list, lim) -> tuple[np.ndarray, np.ndarray]:
    """(column of tuples, passes): absent, or a list of at most N strings each within the length limits."""
    n = len(values)
    shortest, longest = lim.category_length
    column = np.empty(n, dtype=object)
    ok = np.ones(n, bool)
    empty: tuple = ()
    for i, v in enumerate(values):
        if v is _ABSENT:
            column[i] = empty
        elif type(v) is list and len(v) <= lim.categories_items and all(
                type(c) is str and shortest <= len(c) <= longest for c in v):
            column[i] = tuple(v)
        else:
            column[i], ok[i] = empty, False
    return column, ok


def _times(values: list) -> tuple[np.ndarray, np.ndarray]:
    """(epoch microseconds, passes) of RFC 3339 times of the strict form YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM).

    Stricter than the schema's pattern and format and than fromisoformat (ASCII digits, upper-case T and Z,
    real calendar dates, no leap second), so a time that passes is one parse() reads to the same microsecond.
    """
    n = len(values)
    filler = "2000-01-01T00:00:00Z"
    fits = [type(v) is str and 20 <= len(v) <= _TIME_WIDTH for v in values]
    texts = [v if f else filler for v, f in zip(values, fits)]
    ok = np.fromiter(fits, bool, n)
    length = np.fromiter(map(len, texts), np.int64, n)
    c = np.array(texts, dtype=f"U{_TIME_WIDTH}").view(np.uint32).reshape(n, _TIME_WIDTH).astype(np.int64)
    digit = (c >= ord("0")) & (c <= ord("9"))
    d = c - ord("0")
    rows = np.arange(n)

    for at in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        ok &= digit[:, at]
    for at, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")):
        ok &= c[:, at] == ord(char)
    zulu = c[rows, length - 1] == ord("Z")
    zone = np.where(zulu, 1, 6)
    has_fraction = c[:, 19] == ord(".")
    places = np.where(has_fraction, length - 20 - zone, 0)
    ok &= np.where(has_fraction, (places >= 1) & (places <= 6), length == 19 + zone)
    position = np.arange(_TIME_WIDTH)
    in_fraction = (position >= 20) & (position < 20 + places[:, None])
    ok &= ~(in_fraction & ~digit).any(axis=1)
    weights = np.zeros(_TIME_WIDTH, np.int64)
    weights[20:26] = 10 ** np.arange(5, -1, -1)
    micros = (np.where(in_fraction, d, 0) * weights).sum(axis=1)

    start = np.clip(length - 6, 0, _TIME_WIDTH - 6)
    sign_char = c[rows, start]
    offset_ok = ((sign_char == ord("+")) | (sign_char == ord("-"))) & (c[rows, start + 3] == ord(":"))
    for k in (1, 2, 4, 5):
        offset_ok &= digit[rows, start + k]
    off_h = d[rows, start + 1] * 10 + d[rows, start + 2]
    off_m = d[rows, start + 4] * 10 + d[rows, start + 5]
    offset_ok &= (off_h <= 23) & (off_m <= 59)
    ok &= zulu | offset_ok
    offset_us = np.where(zulu, 0, np.where(sign_char == ord("-"), -1, 1) * (off_h * 60 + off_m) * 60_000_000)

    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 5] * 10 + d[:, 6]
    day = d[:, 8] * 10 + d[:, 9]
    hour, minute, second = (d[:, k] * 10 + d[:, k + 1] for k in (11, 14, 17))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 1)] + ((month == 2) & leap)
    ok &= (year >= 1) & month_ok & (day >= 1) & (day <= last_day) & (hour <= 23) & (minute <= 59) & (second <= 59)

    us = (_days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000
    us = us + micros - offset_us
    return np.where(ok, us, 0), ok


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), element-wise."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468
