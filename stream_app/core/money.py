"""Exact money: amounts travel as integer cents, never as float sums.

Half-cent results (sub-cent unit prices, averages) round half to even, the rule
Python's Decimal and most ledgers use, so batch and streaming round alike.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import numpy as np


def div_round_half_even(num: int, den: int) -> int:
    """num/den rounded half to even, in exact integer arithmetic (den > 0)."""
    q, r = divmod(num, den)
    twice = 2 * r
    if twice > den or (twice == den and q % 2 == 1):
        q += 1
    return q


def div_round_half_even_array(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """:func:`div_round_half_even` over integer arrays, exactly (den > 0)."""
    q, r = np.divmod(num, den)
    twice = 2 * r
    return (q + ((twice > den) | ((twice == den) & (q % 2 == 1)))).astype(np.int64)


def to_cents(value: object) -> int:
    """A JSON/CSV amount in major units ("12.5", 12.5, 12) as exact integer cents.

    Floats are read through their shortest repr, so 0.1 means ten cents, not
    0.1000000000000000055... Raises ValueError when it is not a finite number.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, int):
        return value * 100
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return int((d * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


#: "00" to "99": a changed customer's profile and events format three amounts, and a formatted ``{:02d}``
#: took two thirds of each one's time
_HUNDREDTHS = tuple(f"{i:02d}" for i in range(100))


def format_cents(cents: int) -> str:
    """Integer cents as a decimal string with exactly two places: -1234 -> "-12.34"."""
    if cents < 0:
        return "-" + format_cents(-cents)
    return f"{cents // 100}.{_HUNDREDTHS[cents % 100]}"


def aov_cents(monetary_cents: int, frequency: int) -> int:
    """Average order value in cents, rounded half to even; what AOV is ranked on."""
    return div_round_half_even(monetary_cents, frequency) if frequency > 0 else 0
