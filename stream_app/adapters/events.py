"""Canonical events from JSON Lines or CSV (same column names), each validated against the schema.

An event that fails stops the read with a BadInput naming the file, the line
and the field: in batch nothing is scored from a file that is partly wrong
(the streaming worker dead-letters such events instead).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson

from stream_app.adapters import events_fast, textfile
from stream_app.adapters.frame import EventFrame, events_to_frame
from stream_app.core.model import OrderEvent
from stream_app.core.validate import parse
from stream_app.errors import BadEvent, BadInput

INT_FIELDS = ("orders",)
NUMBER_FIELDS = ("amount", "monetary")


def read(path: str) -> EventFrame:
    """The file's validated events; a JSON Lines file that is valid is read column-wise (events_fast), any
    other file, or one with a line the contract refuses, line by line, which names that line."""
    source = str(path)
    if not source.removesuffix(".gz").endswith(".csv"):
        frame = events_fast.read_jsonl(source)
        if frame is not None:
            return frame
    return read_lines(path)


def read_lines(path: str) -> EventFrame:
    """The file's events, each line checked by the worker's validator: the reader whose errors users see."""
    numbered = list(iter_numbered(path))
    frame = events_to_frame((event for _, event in numbered), str(path))
    frame.records = np.fromiter((line for line, _ in numbered), dtype=np.int64, count=len(numbered))
    frame.line_of = int  # records are already line numbers
    frame.contract_checked = True
    return frame


def iter_events(path: str) -> Iterator[OrderEvent]:
    """Validated events of a .jsonl/.json/.csv file (optionally .gz), in file order."""
    return (event for _, event in iter_numbered(path))


def iter_numbered(path: str) -> Iterator[tuple[int, OrderEvent]]:
    """(line, event) of each validated event; the first invalid one stops the read with its line and field."""
    source = str(path)
    is_csv = source.removesuffix(".gz").endswith(".csv")
    for line, obj in (_csv_objects(path) if is_csv else _json_objects(path)):
        try:
            yield line, parse(obj)
        except BadEvent as exc:
            raise BadInput(exc.reason, source=source, line=line, field=exc.field) from None


def _json_objects(path: str) -> Iterator[tuple[int, object]]:
    for n, text in textfile.text_lines(path):
        if not text.strip():
            continue
        try:
            yield n, orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"malformed JSON: {textfile.shorten(str(exc))}", source=str(path), line=n) from None


def _csv_objects(path: str) -> Iterator[tuple[int, dict]]:
    columns: list[str] | None = None
    for line, row in textfile.csv_records(path):
        if columns is None:
            columns = row
            continue
        if len(row) != len(columns):
            raise BadInput(f"{len(row)} cells where the header has {len(columns)}", source=str(path), line=line)
        obj: dict = {}
        for key, value in zip(columns, row):
            if value == "":
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
        raise BadInput(f"not a number: {textfile.shorten(repr(value))}", source=source, line=line, field=key) from None
    if key == "categories":
        if value.lstrip().startswith("["):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                raise BadInput(f"not a JSON list: {textfile.shorten(repr(value))}", source=source, line=line, field=key) from None
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
