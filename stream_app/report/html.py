"""One self-contained HTML report: every picture inlined as a PNG data URI beside the numbers it shows.

No scripts, fonts or stylesheets are fetched, so the file reads the same
offline, attached to an email or archived next to a campaign.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from stream_app.audiences.rules import AudienceRules
from stream_app.audiences.summary import format_money, sizes
from stream_app.report import plots, tables

TOP_LABELLED = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px 32px;color:#1f2933;background:#fff}
h1{font-size:26px;margin:0 0 4px} h2{font-size:19px;margin:0 0 10px;border-bottom:1px solid #d9dee3;padding-bottom:4px}
.sub{color:#52606d;margin:0 0 18px}
.kpis{display:flex;gap:14px;margin:0 0 22px;flex-wrap:wrap}
.kpi{border:1px solid #d9dee3;border-radius:6px;padding:8px 14px;min-width:130px}
.kpi b{display:block;font-size:20px}.kpi span{color:#52606d;font-size:12px}
section{margin:0 0 30px}
.row{display:flex;gap:26px;align-items:flex-start}
.row>img{flex:0 1 auto;height:auto;border:1px solid #eef0f2}
.row.wide>img{max-width:100%}
.numbers{flex:1 1 auto;min-width:0}
.row.wide{flex-direction:column}
table{border-collapse:collapse;font-size:12.5px}
th,td{padding:3px 9px;border-bottom:1px solid #e4e7eb;text-align:right;white-space:nowrap}
th{background:#f5f7fa;font-weight:600;white-space:normal;vertical-align:bottom} td.l,th.l{text-align:left}
.note{color:#52606d;font-size:13px;max-width:900px}
code{background:#f5f7fa;padding:1px 4px;border-radius:3px;white-space:normal}
"""


def render(scored: pd.DataFrame, rules: AudienceRules, source: str) -> str:
    """The report of one scored population (batch output or profiles read back from Redis)."""
    n = len(scored)
    total = int(scored["monetary_cents"].sum()) if n else 0
    last = int(scored["last_order_us"].max()) if n and "last_order_us" in scored else None
    parts = [
        f"<h1>RFM report</h1><p class='sub'>{_e(source)} &middot; generated "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}</p>",
        "<div class='kpis'>" + "".join(
            f"<div class='kpi'><b>{_e(v)}</b><span>{_e(k)}</span></div>"
            for k, v in (("customers", f"{n:,}"), ("revenue (net)", money(total)),
                         ("orders", f"{int(scored['frequency'].sum()):,}" if n else "0"),
                         ("latest order", day(last) if last is not None else "-"))) + "</div>",
    ]
    if n:
        parts += [_segments(scored), _grid(scored), _sums(scored), _frequency(scored), _top(scored)]
    parts.append(_audiences(scored, rules))
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>RFM report: {_e(source)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _segments(scored: pd.DataFrame) -> str:
    t = tables.segments(scored)
    rows = [[r.segment, f"{r.customers:,}", pct(r.customer_share), money(r.revenue_cents), pct(r.revenue_share),
             f"{r.mean_recency_days:,.0f}", f"{r.mean_frequency:,.1f}"] for r in t.itertuples()]
    table = _table(["segment", "customers", "% customers", "revenue", "% revenue", "mean recency days", "mean orders"], rows)
    return _section("Segments", plots.segment_shares(t), "segment shares of customers and revenue", table, width=42)


def _grid(scored: pd.DataFrame) -> str:
    counts, mean = tables.rf_grid(scored)
    rows = []
    for r in range(5, 0, -1):
        rows.append([f"R{r}"] + [f"{counts[r - 1, f - 1]:,} / {'-' if np.isnan(mean[r - 1, f - 1]) else money(mean[r - 1, f - 1])}"
                                 for f in range(1, 6)])
    table = _table(["", "F1", "F2", "F3", "F4", "F5"], rows)
    note = "<p class='note'>Each cell: customers / mean monetary. R5 = most recent, F5 = most frequent.</p>"
    return _section("Recency by frequency", plots.rf_grid(counts, mean), "5 by 5 grid of customers and mean monetary",
                    table + note, width=60)


def _sums(scored: pd.DataFrame) -> str:
    counts, bands = tables.rfm_sums(scored)
    b = tables.bands(scored)
    rows = [[r.band, f"{r.customers:,}", pct(r.customer_share), money(r.revenue_cents), pct(r.revenue_share)] for r in b.itertuples()]
    table = _table(["band", "customers", "% customers", "revenue", "% revenue"], rows)
    note = "<p class='note'>Bands of R+F+M: low 3-6, mid 7-10, high 11-15.</p>"
    return _section("RFM-sum distribution and value bands", plots.rfm_sum_histogram(counts, bands),
                    "histogram of R+F+M coloured by band", table + note)


def _frequency(scored: pd.DataFrame) -> str:
    labelled = tables.top(scored, "monetary_cents", TOP_LABELLED)
    fb = tables.frequency_bins(scored)
    rows = [[r.orders, f"{r.customers:,}", money(r.median_aov_cents), money(r.p90_aov_cents), money(r.max_aov_cents),
             pct(r.revenue_share)] for r in fb.itertuples()]
    by_bins = _table(["orders", "customers", "median AOV", "90th pct AOV", "max AOV", "% revenue"], rows)
    high_aov = tables.top(scored, "aov_cents", 10)
    one_off = int((high_aov["frequency"] <= 3).sum())
    rows = [[str(r.customer_id), f"{r.frequency:,}", money(r.aov_cents), money(r.monetary_cents)] for r in high_aov.itertuples()]
    by_aov = _table(["customer", "orders", "AOV", "monetary"], rows)
    dropped = int((scored["monetary_cents"] <= 0).sum())
    medians = dict(zip(fb["orders"], fb["median_aov_cents"]))
    first, last = tables.FREQUENCY_BINS[0][2], tables.FREQUENCY_BINS[-1][2]
    note = (f"<p class='note'>Log axes; the {TOP_LABELLED} top spenders are circled and named. "
            f"{one_off} of the 10 highest AOVs belong to customers with at most 3 orders; "
            f"median AOV is {money(medians[first])} at {first} and {money(medians[last])} at {last}. "
            + (f"{dropped:,} customers with no positive monetary (returns) cannot be drawn on a log axis. " if dropped else "")
            + "</p>")
    return _section("Frequency against monetary and AOV", plots.frequency_scatter(scored, labelled),
                    "scatter plots of frequency against monetary and AOV",
                    "<div class='row'>" + by_bins + "<div><b>Highest AOVs</b>" + by_aov + "</div></div>" + note, wide=True)


def _top(scored: pd.DataFrame) -> str:
    t = tables.top(scored, "monetary_cents", 10)
    rows = [[str(i + 1), str(r.customer_id), f"{r.frequency:,}", money(r.monetary_cents), money(r.aov_cents), r.segment,
             f"{r.recency_days:,}"] for i, r in enumerate(t.itertuples())]
    table = _table(["#", "customer", "orders", "monetary", "AOV", "segment", "recency (days)"], rows, left=(0, 1, 5))
    return _section("Top 10 customers by monetary", plots.top_customers(t), "top customers by monetary", table)


def _audiences(scored: pd.DataFrame, rules: AudienceRules) -> str:
    if not len(rules):
        return "<section><h2>Audiences</h2><p class='note'>No audience rules.</p></section>"
    t = sizes(scored, rules)
    rows = [[r.audience, f"{r.customers:,}", pct(r.customer_share), money(r.revenue_cents), pct(r.revenue_share)]
            for r in t.itertuples()]
    table = _table(["audience", "customers", "% customers", "revenue", "% revenue"], rows)
    rule_list = "".join(f"<li><b>{_e(a.name)}</b>: <code>{_e(a.text())}</code></li>" for a in rules)
    note = f"<p class='note'>Rules from {_e(rules.source)}:</p><ul class='note'>{rule_list}</ul>"
    return _section("Audiences", plots.audience_sizes(t), "audience sizes", table + note)


def _section(title: str, image: bytes, alt: str, numbers: str, wide: bool = False, width: int = 48) -> str:
    """A titled picture with its numbers beside it (below it when wide); the picture takes width % of the row."""
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    cls = "row wide" if wide else "row"
    style = "" if wide else f" style='max-width:{width}%'"
    return (f"<section><h2>{_e(title)}</h2><div class='{cls}'><img src='{uri}' alt='{_e(alt)}'{style}>"
            f"<div class='numbers'>{numbers}</div></div></section>")


def _table(header: list[str], rows: list[list[str]], left: tuple[int, ...] = (0,)) -> str:
    """An HTML table of escaped cells; columns in ``left`` (text) align left, numbers right."""
    def cell(tag: str, i: int, v: str) -> str:
        return f"<{tag}{' class=l' if i in left else ''}>{_e(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def money(cents: float | int) -> str:
    """Cents as major units with thousands separators; a float mean is rounded to the cent first."""
    if cents is None or (isinstance(cents, float) and np.isnan(cents)):
        return "-"
    return format_money(int(round(cents)))


def day(us: int) -> str:
    """The UTC date of epoch microseconds, for any integer: an event at 0001-01-01T00:00+01:00 falls in year 0,
    which :class:`datetime` cannot hold, and ``strftime`` writes year 1 as ``1`` on glibc."""
    try:
        dt = _EPOCH + timedelta(microseconds=int(us))
    except OverflowError:
        return "before 0001-01-01" if us < 0 else "after 9999-12-31"
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"


def pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
