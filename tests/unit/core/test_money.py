"""Exact money: the formatting and rounding every profile, event and batch file uses."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from stream_app.core.money import aov_cents, div_round_half_even, format_cents, to_cents

EDGES = [0, 1, 9, 10, 99, 100, 101, 109, 110, 1_000, 123_456, 10**15 + 7]
RANDOM = random.Random(11).sample(range(-10**12, 10**12), 300)


def decimal_text(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


@pytest.mark.parametrize("cents", EDGES + [-c for c in EDGES if c] + RANDOM)
def test_format_cents_has_exactly_two_places_and_the_sign(cents: int) -> None:
    assert format_cents(cents) == decimal_text(cents)
    assert to_cents(format_cents(cents)) == cents


@pytest.mark.parametrize("num,den", [(5, 2), (7, 2), (-5, 2), (1, 3), (2, 3), (250, 100), (350, 100), (10**18 + 1, 2)]
                         + [(random.Random(n).randrange(-10**9, 10**9), random.Random(n).randrange(1, 10**4))
                            for n in range(200)])
def test_division_rounds_half_to_even(num: int, den: int) -> None:
    assert div_round_half_even(num, den) == int((Decimal(num) / Decimal(den)).quantize(Decimal(1), ROUND_HALF_EVEN))


def test_aov_of_no_order_is_zero() -> None:
    assert aov_cents(1_000, 0) == 0
    assert aov_cents(1_001, 2) == 500  # 500.5 rounds to the even 500
