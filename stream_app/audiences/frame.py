"""Audience membership of a whole scored DataFrame at once: the batch path.

Each condition becomes a boolean mask over the columns :func:`stream_app.batch.score`
returns. Money thresholds are exact: a threshold of ``t`` cents (maybe
fractional) is turned into an integer bound (``cents > t`` iff ``cents > floor(t)``),
so no float ever decides membership. The tests check every mask against
:meth:`AudienceRules.membership` row by row.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd

from stream_app.audiences.rules import FIELDS, MONEY_CENTS, Audience, AudienceRules, Condition, parse_categories
from stream_app.core.money import to_cents

SEPARATOR = ";"


def masks(scored: pd.DataFrame, rules: AudienceRules) -> dict[str, np.ndarray]:
    """Audience name -> boolean mask over the rows of a scored frame, in rule-file order."""
    return {a.name: audience_mask(scored, a) for a in rules}


def audience_mask(scored: pd.DataFrame, audience: Audience) -> np.ndarray:
    out = np.ones(len(scored), dtype=bool)
    for alternatives in audience.items:
        either = np.zeros(len(scored), dtype=bool)
        for cond in alternatives:
            either |= condition_mask(scored, cond)
        out &= either
    return out


def audience_column(scored: pd.DataFrame, rules: AudienceRules) -> pd.Series:
    """Each row's audience names, sorted and joined with ';' ('' when none)."""
    joined = np.full(len(scored), "", dtype=object)
    for name, mask in sorted(masks(scored, rules).items()):
        if mask.any():
            current = joined[mask]
            joined[mask] = np.where(current == "", name, current + SEPARATOR + name)
    return pd.Series(joined, index=scored.index, dtype=object)


def condition_mask(scored: pd.DataFrame, cond: Condition) -> np.ndarray:
    kind = FIELDS[cond.field]
    if kind == "set":
        wanted = cond.value
        cats = scored["categories"] if "categories" in scored else pd.Series([()] * len(scored), index=scored.index)
        sets = [parse_categories(c) if not isinstance(c, (tuple, frozenset)) else c for c in cats]
        if cond.op == "contains_any":
            return np.fromiter((not wanted.isdisjoint(c) for c in sets), bool, len(sets))  # type: ignore[union-attr]
        return np.fromiter((wanted.issubset(c) for c in sets), bool, len(sets))  # type: ignore[union-attr]
    if kind == "label":
        col = scored[cond.field].astype(object) if cond.field in scored else pd.Series([None] * len(scored), dtype=object)
        values = col.where(col.notna() & (col != ""), None).to_numpy(dtype=object)
        if cond.op in ("eq", "ne"):
            hit = values == cond.value
        else:
            hit = pd.Series(values).isin(list(cond.value)).to_numpy()  # type: ignore[arg-type]
        hit = hit & pd.notna(values)
        return hit if cond.op in ("eq", "in") else ~hit
    values, present = _numbers(scored, cond.field)
    return _compare(values, present, cond)


def _numbers(scored: pd.DataFrame, field: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer values of a numeric field (cents for money) and where they are present."""
    if FIELDS[field] == "money" and MONEY_CENTS[field] in scored:
        col = scored[MONEY_CENTS[field]]
    elif FIELDS[field] == "money":
        col = scored[field].map(lambda v: None if pd.isna(v) or v == "" else to_cents(v))
    else:
        col = scored[field]
    present = col.notna().to_numpy()
    values = np.zeros(len(col), dtype=np.int64)
    values[present] = col[present].astype(np.int64).to_numpy()
    return values, present


def _compare(values: np.ndarray, present: np.ndarray, cond: Condition) -> np.ndarray:
    op, v = cond.op, cond.value
    if op in ("in", "not_in"):
        exact = [int(x) for x in v if _integral(x)]  # type: ignore[union-attr]
        hit = np.isin(values, exact) & present
        return hit if op == "in" else ~hit
    if op in ("eq", "ne"):
        hit = (values == int(v)) & present if _integral(v) else np.zeros(len(values), bool)
        return hit if op == "eq" else ~hit
    if op == "lt":
        return (values < math.ceil(v)) & present  # type: ignore[arg-type]
    if op == "lte":
        return (values <= math.floor(v)) & present  # type: ignore[arg-type]
    if op == "gt":
        return (values > math.floor(v)) & present  # type: ignore[arg-type]
    if op == "gte":
        return (values >= math.ceil(v)) & present  # type: ignore[arg-type]
    raise ValueError(f"operator {op} on a number")


def _integral(x: object) -> bool:
    return not isinstance(x, Decimal) or x == x.to_integral_value()
