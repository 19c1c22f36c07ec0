"""Reading dataset CSVs with errors that name the file, the line and the field.

Columns are parsed vectorised (pandas) for speed; when a column does not
parse, the first offending row is found and reported as a BadInput with its
1-based line number in the file (the header is line 1).
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from stream_app.errors import BadInput


def header(path: str | Path) -> list[str]:
    """Column names of a CSV (gzip or plain), read without loading the file."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            first = fh.readline()
    except FileNotFoundError:
        raise BadInput("no such file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read: {exc}", source=str(path)) from None
    if not first.strip():
        raise BadInput("empty file, no header line", source=str(path), line=1)
    return next(csv.reader([first]))


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
    """The named columns, all as strings (empty cells as empty strings), original row order."""
    try:
        return pd.read_csv(path, usecols=usecols, dtype=str, keep_default_na=False, na_filter=False, engine="c")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise BadInput(f"cannot parse as CSV: {exc}", source=str(path)) from None


def fail_at(mask: np.ndarray | pd.Series, index: pd.Index, values: pd.Series, reason: str, source: str, field: str):
    """Raise BadInput for the first row where mask is true (a no-op when none is)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return
    pos = int(np.argmax(mask))
    raise BadInput(f"{reason}: {values.iloc[pos]!r}", source=source, line=int(index[pos]) + 2, field=field)


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
