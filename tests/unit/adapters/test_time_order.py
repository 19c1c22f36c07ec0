"""The order replay sends and batch folds in (EventFrame.in_time_order) is pandas' stable sort by time,
customer id and order id with a missing id first, whatever the ties."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.adapters import online_retail
from stream_app.adapters.frame import time_order
from tests.unit.test_datasets import RETAIL


def pandas_order(df: pd.DataFrame) -> list[int]:
    return df.sort_values(["occurred_us", "customer_id", "order_id"], kind="stable", na_position="first").index.tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4) | st.integers(-2**62, 2**62), st.sampled_from([None, "", "a", "b", "B", "é", "a1"]),
                          st.sampled_from([None, "", "x", "y", "X", "10", "9"])), max_size=60))
def test_time_order_is_pandas_stable_sort(rows):
    df = pd.DataFrame({"occurred_us": np.array([t for t, _, _ in rows], dtype=np.int64),
                       "customer_id": pd.Series([c for _, c, _ in rows], dtype=object),
                       "order_id": pd.Series([o for _, _, o in rows], dtype=object)})
    assert time_order(df).tolist() == pandas_order(df)


def test_time_order_of_online_retail_is_pandas_sort():
    """A real file with many invoices in the same minute."""
    df = online_retail.read(str(RETAIL)).df
    assert time_order(df).tolist() == pandas_order(df)
