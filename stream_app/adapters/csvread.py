"""Reading dataset CSVs with errors that name the file, the line and the field.

Columns are parsed vectorised (Arrow, pandas) for speed. When a file or a
column does not parse, the file is scanned again line by line (textfile.py)
to report the first problem as a BadInput with its 1-based line number in the
file (the header is line 1, a record with a quoted line break spans several).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from stream_app.adapters import textfile
from stream_app.errors import BadInput

#: what Arrow and the gzip/zlib modules raise on a file they cannot read
READ_ERRORS = (ValueError, pa.ArrowException, UnicodeDecodeError, OSError, EOFError)
#: a record may contain a quoted line break ("multi\nline"), as in any CSV writer's output
PARSE_OPTIONS = pcsv.ParseOptions(newlines_in_values=True)


def header(path: str | Path) -> list[str]:
    """Column names of a CSV (gzip or plain), read without loading the file."""
    for _, row in textfile.csv_records(path):
        return row
    raise BadInput("empty file, no header line", source=str(path), line=1)


def diagnose(path: str | Path, exc: BaseException) -> BadInput:
    """The first problem of a file Arrow or pandas could not read, with its line; else the error itself."""
    textfile.check_records(path, len(header(path)))
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BadInput(f"cannot parse as CSV: {textfile.shorten(reason)}", source=str(path))


def line_of(path: str | Path, record: int) -> int:
    """The line a data record (0-based, header excluded) starts on."""
    return textfile.record_line(path, record)


def pick(columns: list[str], wanted: dict[str, tuple[str, ...]], source: str) -> dict[str, str]:
    """Map each logical field to the first of its accepted column names present, or fail naming it."""
    found: dict[str, str] = {}
    for field, names in wanted.items():
        name = next((n for n in names if n in columns), None)
        if name is None:
            raise BadInput(f"missing column {' or '.join(repr(n) for n in names)}", source=source, line=1, field=names[0])
        found[field] = name
    return found


def read(path: str | Path, usecols: list[str]) -> pd.DataFrame:
    """The named columns, all as strings (empty cells as empty strings), original row order.

    Arrow's reader, unlike pandas', refuses a row with more or fewer cells
    than the header instead of shifting or padding it.
    """
    textfile.check_file(path)
    try:
        table = pcsv.read_csv(path, parse_options=PARSE_OPTIONS, convert_options=pcsv.ConvertOptions(
            include_columns=usecols, column_types={c: pa.string() for c in usecols}, strings_can_be_null=False))
    except READ_ERRORS as exc:
        raise diagnose(path, exc) from None
    return pd.DataFrame({c: table.column(c).to_numpy(zero_copy_only=False).astype(object) for c in usecols})


def fail_at(mask: np.ndarray | pd.Series, index: pd.Index, values: pd.Series, reason: str, source: str, field: str):
    """Raise BadInput for the first row where mask is true (a no-op when none is)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return
    pos = int(np.argmax(mask))
    raise BadInput(f"{reason}: {textfile.shorten(repr(values.iloc[pos]))}", source=source,
                   line=line_of(source, int(index[pos])), field=field)


def to_number(col: pd.Series, source: str, field: str) -> np.ndarray:
    """A string column as float64; a non-numeric or empty cell stops with its line."""
    num = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    fail_at(~np.isfinite(num), col.index, col, "not a number", source, field)
    return num


def to_epoch_us(col: pd.Series, source: str, field: str, fmt: str = "ISO8601") -> np.ndarray:
    """A string column of naive or UTC date-times as epoch microseconds (naive taken as UTC)."""
    parsed = pd.to_datetime(col, format=fmt, errors="coerce", utc=True)
    fail_at(parsed.isna().to_numpy(), col.index, col, "not a date-time", source, field)
    return parsed.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype(np.int64).to_numpy()


def to_units(values: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Decimal numbers already read as floats -> (exact integers of 1/scale units, mask of inexact ones).

    Exact as long as a value has no more decimals than log10(scale) and its
    scaled value stays far below 2**53 (the float error is then under 1e-3
    of a unit): the rounding recovers the written digits, and anything
    further from a whole unit had more decimals than the scale keeps.
    """
    scaled = values * scale
    units = np.rint(scaled)
    return units.astype(np.int64), np.abs(scaled - units) > 1e-3


def too_many_decimals(scale: int) -> str:
    return f"more than {len(str(scale)) - 1} decimals"


def exact_units(values: np.ndarray, scale: int, col: pd.Series, source: str, field: str) -> np.ndarray:
    """:func:`to_units` of a CSV column; an inexact value stops with its line."""
    units, inexact = to_units(values, scale)
    fail_at(inexact, col.index, col, too_many_decimals(scale), source, field)
    return units
