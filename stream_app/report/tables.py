"""The numbers of the report, computed from a scored frame with plain pandas.

The input is the frame :func:`stream_app.batch.score` returns or the one
:mod:`stream_app.report.redis_source` reads back: one row per customer with
``customer_id, recency_days, frequency, monetary_cents, aov_cents, r_score,
f_score, m_score, rfm_sum, value_band, segment``. Money stays in integer cents
here; only the HTML formats it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BANDS = ("low", "mid", "high")
FREQUENCY_BINS = ((1, 1, "1 order"), (2, 3, "2-3 orders"), (4, 10, "4-10 orders"), (11, None, "11+ orders"))


def _shares(counts: pd.Series, cents: pd.Series, n: int, total: int) -> pd.DataFrame:
    return pd.DataFrame({
        "customers": counts.astype(np.int64),
        "customer_share": counts / n if n else 0.0,
        "revenue_cents": cents.astype(np.int64),
        "revenue_share": cents / total if total else 0.0,
    })


def segments(scored: pd.DataFrame) -> pd.DataFrame:
    """Per segment: customers, revenue and their shares, mean recency/frequency; by revenue, largest first."""
    g = scored.groupby("segment", sort=True)
    out = _shares(g.size(), g["monetary_cents"].sum(), len(scored), int(scored["monetary_cents"].sum()))
    out["mean_recency_days"] = g["recency_days"].mean()
    out["mean_frequency"] = g["frequency"].mean()
    out = out.rename_axis("segment").reset_index()
    return out.sort_values(["revenue_cents", "segment"], ascending=[False, True], kind="stable").reset_index(drop=True)


def rf_grid(scored: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """5x5 arrays indexed [r-1, f-1]: customer counts, and mean monetary in cents (NaN where empty)."""
    counts = np.zeros((5, 5), dtype=np.int64)
    sums = np.zeros((5, 5), dtype=np.float64)
    r = scored["r_score"].to_numpy().astype(np.int64) - 1
    f = scored["f_score"].to_numpy().astype(np.int64) - 1
    np.add.at(counts, (r, f), 1)
    np.add.at(sums, (r, f), scored["monetary_cents"].to_numpy().astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return counts, mean


def rfm_sums(scored: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Customers per RFM sum 3..15 (zeros kept), and the band of each sum."""
    counts = scored["rfm_sum"].value_counts().reindex(range(3, 16), fill_value=0).sort_index()
    bands = pd.Series(["low" if s <= 6 else "mid" if s <= 10 else "high" for s in counts.index], index=counts.index)
    return counts, bands


def bands(scored: pd.DataFrame) -> pd.DataFrame:
    """Per value band (low, mid, high): customers, revenue and their shares."""
    g = scored.groupby("value_band")
    counts = g.size().reindex(BANDS, fill_value=0)
    cents = g["monetary_cents"].sum().reindex(BANDS, fill_value=0)
    return _shares(counts, cents, len(scored), int(scored["monetary_cents"].sum())).rename_axis("band").reset_index()


def frequency_bins(scored: pd.DataFrame) -> pd.DataFrame:
    """AOV by how often customers buy: the numbers behind the frequency-vs-AOV picture."""
    rows = []
    total = int(scored["monetary_cents"].sum())
    freq = scored["frequency"].to_numpy()
    for lo, hi, label in FREQUENCY_BINS:
        mask = (freq >= lo) & (freq <= hi if hi is not None else True)
        part = scored[mask]
        aov = part["aov_cents"]
        rows.append({
            "orders": label,
            "customers": int(mask.sum()),
            "median_aov_cents": float(aov.median()) if len(part) else np.nan,
            "p90_aov_cents": float(aov.quantile(0.9)) if len(part) else np.nan,
            "max_aov_cents": int(aov.max()) if len(part) else 0,
            "revenue_share": part["monetary_cents"].sum() / total if total else 0.0,
        })
    return pd.DataFrame(rows)


def top(scored: pd.DataFrame, by: str = "monetary_cents", n: int = 10) -> pd.DataFrame:
    """The n customers with the largest ``by`` (ties: customer_id ascending)."""
    return scored.sort_values([by, "customer_id"], ascending=[False, True], kind="stable").head(n).reset_index(drop=True)
