"""Whole-population RFM scoring with pandas: the batch job, equal by contract to the streaming worker.

It applies the fold conventions of :mod:`stream_app.core.fold` to a whole
EventFrame at once (deduplication, latest snapshot, returns), then ranks and
cuts exactly as :mod:`stream_app.core.quintiles` describes. The tests check it
against folding the same events one by one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stream_app.adapters.frame import EventFrame
from stream_app.audiences import rules as audience_rules
from stream_app.audiences.frame import audience_column
from stream_app.core.fold import MAX_CATEGORIES, MAX_FACTS, order_key
from stream_app.core.money import div_round_half_even_array, format_cents
from stream_app.core.quintiles import score_ranks
from stream_app.core.segments import SegmentMap
from stream_app.core.timeutil import US_PER_DAY
from stream_app.errors import BadInput

#: int64 sums of cents are exact while the sum of all |amounts| stays below this
INT64_SAFE_TOTAL = 2.0**62

OUTPUT_COLUMNS = [
    "customer_id", "recency_days", "frequency", "monetary", "aov",
    "r_score", "f_score", "m_score", "rfm_score", "rfm_sum", "value_band", "segment",
    "aov_score", "audiences",
]
TIES = ("first", "value")


def customer_totals(frame: EventFrame) -> pd.DataFrame:
    """Per customer (index, sorted): frequency, monetary_cents, first/last order, channel, categories."""
    df = frame.df
    everything = np.abs(df["amount_cents"].to_numpy(np.float64)).sum() + np.abs(df["monetary_cents"].to_numpy(np.float64)).sum()
    if everything >= INT64_SAFE_TOTAL:  # the streaming fold has no such limit (Python ints): refuse, never wrap
        raise BadInput(f"the amounts add up to {everything:.3g} cents, more than 64-bit totals hold", source=frame.source)
    is_snap = (df["type"] == "snapshot").to_numpy()
    snaps = df[is_snap]
    facts = df[~is_snap]

    snap = None
    if len(snaps):
        snaps = snaps.assign(_ch=snaps["channel"].fillna(""))
        if snaps["customer_id"].duplicated().any():
            snaps = snaps.sort_values(["customer_id", "occurred_us", "orders", "monetary_cents",
                                       "first_order_us", "last_order_us", "_ch"], kind="stable")
        snap = snaps.drop_duplicates("customer_id", keep="last").set_index("customer_id")

    if len(facts):
        key = ["customer_id", "type", "order_id"]
        if facts.duplicated(key).any():
            facts = (facts.assign(_ch=facts["channel"].fillna(""))
                     .sort_values(key + ["occurred_us", "amount_cents", "_ch"], kind="stable")
                     .drop_duplicates(key, keep="first"))
        per_customer = facts["customer_id"].value_counts()
        if len(per_customer) and per_customer.iloc[0] > MAX_FACTS:  # the worker refuses the events beyond it
            raise BadInput(f"customer {per_customer.index[0]} has {per_customer.iloc[0]:,} distinct orders and "
                           f"returns, more than the limit of {MAX_FACTS:,}", source=frame.source, field="order_id")
        if snap is not None:
            since = facts["customer_id"].map(snap["occurred_us"])
            facts = facts[~(since.notna() & (facts["occurred_us"] <= since)).to_numpy()]

    customers = pd.Index(pd.unique(df["customer_id"]), dtype=object).sort_values()
    out = pd.DataFrame(index=customers)
    out["frequency"] = 0
    out["monetary_cents"] = 0
    out["first_order_us"] = np.nan
    out["last_order_us"] = np.nan
    out["channel"] = None

    orders = facts[(facts["type"] == "order").to_numpy()]
    if len(orders):
        g = orders.groupby("customer_id", sort=False)
        agg = g.agg(n=("order_id", "size"), cents=("amount_cents", "sum"), first=("occurred_us", "min"), last=("occurred_us", "max"))
        out.loc[agg.index, "frequency"] = agg["n"]
        out.loc[agg.index, "monetary_cents"] = agg["cents"]
        out.loc[agg.index, "first_order_us"] = agg["first"]
        out.loc[agg.index, "last_order_us"] = agg["last"]
        with_channel = orders[orders["channel"].notna().to_numpy()]
        if len(with_channel):
            # ties between orders at the same time compare the keys the worker's state holds
            with_channel = with_channel.assign(_key=with_channel["order_id"].map(order_key))
            latest = (with_channel.sort_values(["customer_id", "occurred_us", "_key"])
                      .drop_duplicates("customer_id", keep="last"))
            out.loc[latest["customer_id"].to_numpy(), "channel"] = latest["channel"].to_numpy()
    returns = facts[(facts["type"] == "return").to_numpy()]
    if len(returns):
        ret = returns.groupby("customer_id", sort=False)["amount_cents"].sum()
        out.loc[ret.index, "monetary_cents"] += ret

    if snap is not None:
        idx = snap.index
        out.loc[idx, "frequency"] += snap["orders"]
        out.loc[idx, "monetary_cents"] += snap["monetary_cents"]
        out.loc[idx, "first_order_us"] = np.fmin(out.loc[idx, "first_order_us"], snap["first_order_us"])
        out.loc[idx, "last_order_us"] = np.fmax(out.loc[idx, "last_order_us"], snap["last_order_us"])
        no_later_channel = out.loc[idx, "channel"].isna()
        fill = idx[no_later_channel.to_numpy()]
        out.loc[fill, "channel"] = snap.loc[fill, "channel"]

    cats = df[df["categories"].map(len).to_numpy() > 0] if len(df) else df
    out["categories"] = [()] * len(out)
    if len(cats):
        union = cats.explode("categories").groupby("customer_id")["categories"].agg(
            lambda s: tuple(sorted(set(s))[:MAX_CATEGORIES]))
        out.loc[union.index, "categories"] = pd.Series(list(union.to_numpy()), index=union.index, dtype=object)
    out["frequency"] = out["frequency"].astype(np.int64)
    out["monetary_cents"] = out["monetary_cents"].astype(np.int64)
    return out


def score(frame: EventFrame, as_of_us: int | None = None, ties: str = "first",
          segments: SegmentMap | None = None,
          audiences: audience_rules.AudienceRules | None = None) -> pd.DataFrame:
    """Score every customer with at least one order; one row each, sorted by customer_id.

    Besides OUTPUT_COLUMNS the frame keeps the exact inputs (``monetary_cents``,
    ``aov_cents``, ``last_order_us``, ``aov_score``, ``channel``, ``categories``)
    for callers that need them; :func:`to_output` selects the published columns.
    ``audiences`` (default: the packaged rules) fills the ``audiences`` column.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}")
    segments = segments or SegmentMap.load()
    totals = customer_totals(frame)
    t = totals[(totals["frequency"] > 0).to_numpy() & totals["last_order_us"].notna().to_numpy()].copy()
    n = len(t)
    t["last_order_us"] = t["last_order_us"].astype(np.int64)
    freq = t["frequency"].to_numpy()
    cents = t["monetary_cents"].to_numpy()
    t["aov_cents"] = div_round_half_even_array(cents, freq)
    if as_of_us is None:
        as_of_us = int(frame.df["occurred_us"].max()) if len(frame.df) else 0
    t["recency_days"] = (as_of_us - t["last_order_us"].to_numpy()) // US_PER_DAY

    for name, col in (("r", "last_order_us"), ("f", "frequency"), ("m", "monetary_cents"), ("aov", "aov_cents")):
        t[f"{name}_score"] = _scores(t[col].to_numpy(), n, ties) if n else np.array([], np.int8)
    r, f, m = (t[c].to_numpy().astype(np.int64) for c in ("r_score", "f_score", "m_score"))
    t["rfm_score"] = [f"{a}{b}{c}" for a, b, c in zip(r, f, m)]
    t["rfm_sum"] = r + f + m
    t["value_band"] = np.select([t["rfm_sum"] <= 6, t["rfm_sum"] <= 10], ["low", "mid"], "high")
    grid = np.array([[segments.segment(i, j) for j in range(1, 6)] for i in range(1, 6)], dtype=object)
    t["segment"] = grid[r - 1, f - 1] if n else []
    t["monetary"] = [format_cents(int(c)) for c in cents]
    t["aov"] = [format_cents(int(c)) for c in t["aov_cents"].to_numpy()]
    t.index.name = "customer_id"
    t = t.reset_index()
    if audiences is None:
        audiences = audience_rules.load(segment_names=segments.names)
    t["audiences"] = audience_column(t, audiences)
    return t


def to_output(scored: pd.DataFrame) -> pd.DataFrame:
    return scored[OUTPUT_COLUMNS]


def _scores(values: np.ndarray, n: int, ties: str) -> np.ndarray:
    """Quintile scores of one dimension; rows are already sorted by customer_id."""
    if ties == "first":
        order = np.argsort(values, kind="stable")  # stable: ties stay in customer_id order
        ranks = np.empty(n, np.int64)
        ranks[order] = np.arange(1, n + 1)
    else:
        ranks = np.searchsorted(np.sort(values), values, side="left") + 1
    return score_ranks(ranks, n)
