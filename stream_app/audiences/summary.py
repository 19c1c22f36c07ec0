"""What a campaign team asks of audiences: who is in each, how many, and how much of the revenue they carry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stream_app.audiences.folder import HEADER, replace_folder
from stream_app.audiences.frame import masks
from stream_app.audiences.rules import AudienceRules
from stream_app.core.money import format_cents


def sizes(scored: pd.DataFrame, rules: AudienceRules) -> pd.DataFrame:
    """One row per audience (file order): customers, share of customers, revenue cents, share of revenue.

    Shares are of all scored customers and of their total net monetary (returns included).
    """
    total_customers = len(scored)
    cents = scored["monetary_cents"].to_numpy()
    total_cents = int(cents.sum())
    rows = []
    for name, mask in masks(scored, rules).items():
        revenue = int(cents[mask].sum())
        rows.append({
            "audience": name,
            "customers": int(mask.sum()),
            "customer_share": mask.sum() / total_customers if total_customers else 0.0,
            "revenue_cents": revenue,
            "revenue_share": revenue / total_cents if total_cents else 0.0,
        })
    return pd.DataFrame(rows, columns=["audience", "customers", "customer_share", "revenue_cents", "revenue_share"])


def write_lists(scored: pd.DataFrame, rules: AudienceRules, out_dir: str | Path) -> list[Path]:
    """``NAME.csv`` per audience in out_dir: a ``customer_id`` header, then the members' ids, sorted.

    Every audience gets a file, an empty one too, so that a downstream job can
    tell "nobody qualifies" from "the audience was not computed". The folder
    is replaced whole (:mod:`stream_app.audiences.folder`): lists of another
    rule set never sit beside these, and a failure leaves the previous folder.
    """
    ids = scored["customer_id"].astype(str).to_numpy()
    lists = {name: HEADER + "".join(f"{m}\n" for m in sorted(ids[mask])).encode()
             for name, mask in masks(scored, rules).items()}
    return replace_folder(out_dir, lists)


def format_sizes(table: pd.DataFrame) -> str:
    """The sizes table as aligned text for a terminal."""
    header = ("audience", "customers", "% customers", "revenue", "% revenue")
    rows = [
        (r.audience, f"{r.customers:,}", f"{100 * r.customer_share:.1f}%", format_money(r.revenue_cents), f"{100 * r.revenue_share:.1f}%")
        for r in table.itertuples()
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [str(row[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def format_money(cents: int) -> str:
    """Integer cents as major units with thousands separators: 123456789 -> '1,234,567.89'."""
    whole, _, frac = format_cents(int(cents)).partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{frac}"
