"""Canonical events from JSON Lines or CSV (same column names), each validated against the schema.

An event that fails stops the read with a BadInput naming the file, the line
and the field: in batch nothing is scored from a file that is partly wrong
(the streaming worker dead-letters such events instead).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator

import orjson

from stream_app.adapters.frame import EventFrame, events_to_frame
from stream_app.core.model import OrderEvent
from stream_app.core.validate import parse
from stream_app.errors import BadEvent, BadInput

INT_FIELDS = ("orders",)
NUMBER_FIELDS = ("amount", "monetary")


def read(path: str) -> EventFrame:
    return events_to_frame(iter_events(path), str(path))


def iter_events(path: str) -> Iterator[OrderEvent]:
    """Validated events of a .jsonl/.json/.csv file (optionally .gz), in file order."""
    source = str(path)
    is_csv = source.removesuffix(".gz").endswith(".csv")
    for line, obj in (_csv_objects(path) if is_csv else _json_objects(path)):
        try:
            yield parse(obj)
        except BadEvent as exc:
            raise BadInput(exc.reason, source=source, line=line, field=exc.field) from None


def _open(path: str):
    try:
        raw = gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")
        return io.TextIOWrapper(raw, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise BadInput("no such file", source=str(path)) from None


def _json_objects(path: str) -> Iterator[tuple[int, object]]:
    with _open(path) as fh:
        for n, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                yield n, orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise BadInput(f"malformed JSON: {exc}", source=str(path), line=n) from None


def _csv_objects(path: str) -> Iterator[tuple[int, dict]]:
    with _open(path) as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            line = reader.line_num
            obj: dict = {}
            for key, value in row.items():
                if key is None:
                    raise BadInput("more cells than header columns", source=str(path), line=line)
                if value is None or value == "":
                    continue
                obj[key] = _coerce(key, value, str(path), line)
            yield line, obj


def _coerce(key: str, value: str, source: str, line: int):
    """CSV cells are text; give numbers and lists their JSON types before validation."""
    try:
        if key in INT_FIELDS:
            return int(value)
        if key in NUMBER_FIELDS:
            number = float(value)
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    except ValueError:
        raise BadInput(f"not a number: {value!r}", source=source, line=line, field=key) from None
    if key == "categories":
        if value.lstrip().startswith("["):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                raise BadInput(f"not a JSON list: {value!r}", source=source, line=line, field=key) from None
        return [v.strip() for v in value.split(";") if v.strip()]
    return value


def write_jsonl(frame: EventFrame, out) -> int:
    """Write a frame's events as JSON Lines to a binary file object; returns the count."""
    n = 0
    for event in frame.events():
        out.write(orjson.dumps(event.to_json()))
        out.write(b"\n")
        n += 1
    return n
