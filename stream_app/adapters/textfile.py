"""Reading input files line by line, turning every way a file can be unreadable into one BadInput.

The fast readers (Arrow, pandas) say *that* a file is broken - a truncated
gzip stream, a Latin-1 byte, a row with a cell too many - but not on which
line, or they report a byte offset. This module reads the file again the slow
way, only after such a failure or to number an error, and names the line (and,
for a CSV, the column) where the problem is.
"""

from __future__ import annotations

import csv
import gzip
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from stream_app.errors import BadInput

GZIP_MAGIC = b"\x1f\x8b"
#: what a broken gzip stream raises while being read
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def shorten(text: str, limit: int = 120) -> str:
    """A value or message cut to fit an error line (a 1 MB cell must not become a 1 MB message)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def check_file(path: str | Path) -> None:
    """Refuse, with a one-line reason, a path that is not a readable file of the kind its name says."""
    source = str(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BadInput("no such file", source=source) from None
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror or exc}", source=source) from None
    if stat.S_ISDIR(mode):
        raise BadInput("is a directory, not a file", source=source)
    if not stat.S_ISREG(mode):
        raise BadInput("is not a regular file", source=source)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror or exc}", source=source) from None
    if source.endswith(".gz") and magic != GZIP_MAGIC:
        raise BadInput("not a gzip file, although its name ends in .gz", source=source)


@contextmanager
def open_binary(path: str | Path) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed when its name ends in .gz; checked by :func:`check_file` first."""
    check_file(path)
    with (gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")) as fh:
        yield fh  # type: ignore[misc]


def binary_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each line; a broken gzip stream stops with the last good line named."""
    n = 0
    with open_binary(path) as fh:
        try:
            for n, raw in enumerate(fh, start=1):
                yield n, raw
        except GZIP_ERRORS as exc:
            raise BadInput(f"corrupt or truncated gzip data: {shorten(str(exc) or type(exc).__name__)}",
                           source=str(path), line=n + 1) from None


def text_lines(path: str | Path, columns: list[str] | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line decoded as UTF-8 (a leading BOM dropped).

    Text that is not UTF-8 (Latin-1, Windows-1252...) stops at its line, and,
    when ``columns`` (a CSV header) are given, names the column of that line.
    """
    for n, raw in binary_lines(path):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            field = _column_of_bad_byte(raw, exc.start, columns) if columns else None
            raise BadInput(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at position {exc.start + 1} of the line "
                           "(save the file as UTF-8)", source=str(path), line=n, field=field) from None
        yield n, text.removeprefix("\ufeff") if n == 1 else text


def _column_of_bad_byte(raw: bytes, at: int, columns: list[str]) -> str | None:
    cells = next(csv.reader([raw[:at].decode("utf-8", "replace")]), [])
    index = max(len(cells) - 1, 0)
    return columns[index] if index < len(columns) else None


def csv_records(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each CSV record, blank lines skipped as Arrow and pandas skip them."""
    columns: list[str] = []  # filled from the header, to name the column of a later bad byte
    lines = text_lines(path, columns)
    state = {"line": 0}

    def feed() -> Iterator[str]:
        for n, text in lines:
            state["line"] = n
            yield text

    reader = csv.reader(feed())
    old_limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # long cells are for the contract to refuse, with a reason
    try:
        while True:
            start = state["line"] + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise BadInput(f"not a valid CSV record: {shorten(str(exc))}", source=str(path), line=start) from None
            if row:
                if not columns:
                    columns.extend(row)
                yield start, row
    finally:
        csv.field_size_limit(old_limit)


def check_records(path: str | Path, width: int) -> None:
    """Refuse the first record whose number of cells differs from the header's."""
    for i, (line, row) in enumerate(csv_records(path)):
        if i and len(row) != width:
            raise BadInput(f"{len(row)} cells where the header has {width}", source=str(path), line=line)


def record_line(path: str | Path, record: int) -> int:
    """The first line of data record ``record`` (0-based, after the header); record + 2 if it cannot be found."""
    try:
        for i, (line, _) in enumerate(csv_records(path)):
            if i == record + 1:
                return line
    except (BadInput, OSError):
        pass
    return record + 2
