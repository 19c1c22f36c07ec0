"""The report's pictures, drawn with matplotlib and returned as PNG bytes to inline.

Figures are built with :class:`matplotlib.figure.Figure` directly, not pyplot:
no global figure state, no GUI backend, nothing to close.

Labels are data (segment and audience names, customer ids, profiles read
back from Redis), and matplotlib reads text between two ``$`` as TeX and
fails on what it cannot parse; :func:`label` escapes every ``$`` (math text
stays on for the log axes' ``10^n`` ticks). Labels are also cut to
:data:`MAX_LABEL` characters and bar charts to :data:`MAX_BARS` bars, so no
input makes a picture larger than matplotlib can draw.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

BAND_COLOURS = {"low": "#b0b8c1", "mid": "#f2a541", "high": "#2f7d4f"}
CUSTOMERS_COLOUR = "#4c72b0"
REVENUE_COLOUR = "#dd8452"
LABEL_COLOUR = "#b03a2e"
DPI = 100
_HEAT = LinearSegmentedColormap.from_list("rfm", ["#f7fbff", "#6baed6", "#08306b"])
#: longest label drawn, and most bars in one chart (the tables beside the pictures list everything)
MAX_LABEL = 40
MAX_BARS = 40


def label(value: object) -> str:
    """A value as a label of at most MAX_LABEL characters, on one line, every ``$`` escaped (never math text)."""
    text = " ".join(str(value).split())
    text = text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "\u2026"
    return text.replace("$", r"\$")


def _largest(table: pd.DataFrame, column: str) -> tuple[pd.DataFrame, str]:
    """The MAX_BARS rows of largest ``column`` (table order kept), and a note for the title when rows were left out."""
    if len(table) <= MAX_BARS:
        return table, ""
    kept = table.loc[sorted(table[column].nlargest(MAX_BARS).index)]
    return kept, f" ({MAX_BARS} largest of {len(table):,})"


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def segment_shares(table: pd.DataFrame) -> bytes:
    """Share of customers beside share of revenue, per segment (largest revenue share on top)."""
    table, note = _largest(table, "customer_share")
    t = table.iloc[::-1]
    fig = Figure(figsize=(6.4, 0.42 * len(t) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(t))
    ax.barh(y + 0.2, 100 * t["customer_share"], height=0.4, color=CUSTOMERS_COLOUR, label="% of customers")
    ax.barh(y - 0.2, 100 * t["revenue_share"], height=0.4, color=REVENUE_COLOUR, label="% of revenue")
    ax.set_yticks(y, [label(s) for s in t["segment"]])
    ax.set_xlabel("percent")
    ax.legend(loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Segments: share of customers and of revenue" + note, loc="left")
    return png(fig)


def rf_grid(counts: np.ndarray, mean_cents: np.ndarray) -> bytes:
    """Two 5x5 heatmaps (R rows 5..1 top to bottom, F columns 1..5): customer counts, mean monetary."""
    fig = Figure(figsize=(8.6, 3.7))
    axes = fig.subplots(1, 2)
    panels = ((axes[0], counts, "Customers", lambda v: f"{int(v):,}"),
              (axes[1], mean_cents / 100, "Mean monetary", lambda v: f"{v:,.0f}"))
    for ax, values, title, fmt in panels:
        shown = values[::-1]  # R5 on top
        finite = np.nan_to_num(shown, nan=0.0)
        im = ax.imshow(finite, cmap=_HEAT, aspect="equal")
        top = finite.max() if finite.size else 0
        for i in range(5):
            for j in range(5):
                v = shown[i, j]
                text = "-" if np.isnan(v) else fmt(v)
                ax.text(j, i, text, ha="center", va="center", fontsize=9,
                        color="white" if top and finite[i, j] > 0.55 * top else "#1a1a1a")
        ax.set_xticks(range(5), [f"F{f}" for f in range(1, 6)])
        ax.set_yticks(range(5), [f"R{r}" for r in range(5, 0, -1)])
        ax.set_title(title, loc="left")
        fig.colorbar(im, ax=ax, shrink=0.8)
    return png(fig)


def rfm_sum_histogram(counts: pd.Series, bands: pd.Series) -> bytes:
    """Customers per RFM sum (3..15), each bar coloured by its value band."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    colours = [BAND_COLOURS[bands[s]] for s in counts.index]
    ax.bar(counts.index, counts.to_numpy(), color=colours)
    ax.set_xticks(list(counts.index))
    ax.set_xlabel("R + F + M")
    ax.set_ylabel("customers")
    ax.legend(handles=[Patch(color=c, label=b) for b, c in BAND_COLOURS.items()], title="value band",
              frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("RFM-sum distribution", loc="left")
    return png(fig)


def frequency_scatter(scored: pd.DataFrame, labelled: pd.DataFrame) -> bytes:
    """Frequency against monetary and against AOV, log axes, coloured by band; ``labelled`` rows named.

    Customers with no positive monetary (returns cancel their orders) have no
    place on a log axis and are left out; the caller says how many.
    """
    positive = (scored["monetary_cents"].to_numpy() > 0) & (scored["frequency"].to_numpy() > 0)
    fig = Figure(figsize=(12.4, 4.6))
    axes = fig.subplots(1, 2)
    for ax, col, name in ((axes[0], "monetary_cents", "monetary"), (axes[1], "aov_cents", "AOV (monetary / orders)")):
        pos = scored[positive & (scored[col].to_numpy() > 0)]
        ax.spines[["top", "right"]].set_visible(False)
        if pos.empty:  # a log axis with no positive value has no range: matplotlib raises
            ax.text(0.5, 0.5, f"no customer with a positive {name}", transform=ax.transAxes, ha="center", va="center",
                    color="#52606d")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        for band, colour in BAND_COLOURS.items():
            part = pos[(pos["value_band"] == band).to_numpy()]
            ax.scatter(part["frequency"], part[col] / 100, s=7, alpha=0.45, color=colour, label=band, linewidths=0)
        top = labelled[(labelled[col].to_numpy() > 0) & (labelled["frequency"].to_numpy() > 0)]
        top = top.sort_values(col, ascending=False, kind="stable")
        ax.scatter(top["frequency"], top[col] / 100, s=40, facecolors="none", edgecolors=LABEL_COLOUR, linewidths=1.3)
        # names in a column (top-left beside monetary, top-right beside AOV), each with a leader line:
        # the top spenders sit close together and names next to the points would overlap
        x_text, align = (0.03, "left") if col == "monetary_cents" else (0.97, "right")
        for k, row in enumerate(top.itertuples()):
            ax.annotate(label(row.customer_id), (row.frequency, getattr(row, col) / 100), xycoords="data",
                        xytext=(x_text, 0.95 - 0.075 * k), textcoords="axes fraction", ha=align, va="center",
                        fontsize=8, color=LABEL_COLOUR,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                        arrowprops={"arrowstyle": "-", "color": LABEL_COLOUR, "lw": 0.6, "alpha": 0.8})
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("frequency (orders, log)")
        ax.set_ylabel(f"{name} (log)")
        ax.grid(True, which="major", alpha=0.25)
    axes[0].set_title("Frequency vs monetary", loc="left")
    axes[1].set_title("Frequency vs AOV", loc="left")
    if axes[0].collections:
        axes[0].legend(title="value band", frameon=False, loc="lower right", markerscale=2)
    return png(fig)


def top_customers(top: pd.DataFrame) -> bytes:
    """Monetary of the top customers, largest on top."""
    t = top.iloc[::-1]
    fig = Figure(figsize=(6.0, 0.28 * len(t) + 1.0))
    ax = fig.subplots()
    ax.barh(range(len(t)), t["monetary_cents"] / 100, color=REVENUE_COLOUR)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_yticks(range(len(t)), [label(c) for c in t["customer_id"]], fontsize=8)
    ax.set_xlabel("monetary")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Top customers by monetary", loc="left")
    return png(fig)


def audience_sizes(table: pd.DataFrame) -> bytes:
    """Customers per audience, with the share of customers written on each bar."""
    table, note = _largest(table, "customers")
    t = table.iloc[::-1]
    fig = Figure(figsize=(6.4, 0.45 * max(len(t), 1) + 1.1))
    ax = fig.subplots()
    bars = ax.barh(range(len(t)), t["customers"], color=CUSTOMERS_COLOUR)
    ax.set_yticks(range(len(t)), [label(a) for a in t["audience"]])
    for bar, share in zip(bars, t["customer_share"]):
        ax.annotate(f"{100 * share:.1f}%", (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("customers")
    ax.margins(x=0.12)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Audience sizes" + note, loc="left")
    return png(fig)
