"""A history's customers in shards small enough to hold at once, and what a bulk load keeps of all of them.

`rfm-stream bootstrap` holds each customer's state as Python objects while it scores and writes it: its peak was
about 1.9 KB a customer with one order each, 5.4 KB with ten. At 10M customers that is more memory than a machine has
beside the Redis it loads. So a history of more than :data:`SHARD_CUSTOMERS` customers is folded a shard
of customers at a time, twice: the first pass keeps only each scored customer's four rank values (the
boundaries need everyone's), the second folds each shard again to score and write it. Every event of a
customer is in its customer's shard, in the frame's order, so a shard's fold is its customers' whole fold.
A history of one shard is folded once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stream_app.adapters.frame import EventFrame
from stream_app.core.fold import CustomerState
from stream_app.core.model import Totals
from stream_app.core.quintiles import DIMENSIONS
from stream_app.core.scoring import Boundaries, boundaries_of_ranks, rank_values

#: the most customers whose states a bulk load holds at once; about 2-5 GB of states at this size
SHARD_CUSTOMERS = 1_000_000


def shard_rows(frame: EventFrame, most: int = SHARD_CUSTOMERS, factorized: tuple | None = None
               ) -> list[np.ndarray] | None:
    """The row positions of each shard, ascending (the frame's order); None when one shard holds everyone.

    Customers are dealt out in order of their first row, so the shards are about equal and the same for
    the same file (a load run again after a kill writes the same customers in the same order).
    ``factorized``: ``pd.factorize`` of the frame's customer ids, when the caller has it.
    """
    codes, customers = factorized if factorized is not None else pd.factorize(frame.df["customer_id"], sort=False)
    count = -(-len(customers) // max(1, most))
    if count <= 1:
        return None
    shard = codes % count
    rows = np.argsort(shard, kind="stable")
    return np.split(rows, np.cumsum(np.bincount(shard, minlength=count))[:-1])


def part(frame: EventFrame, rows: np.ndarray) -> EventFrame:
    """The rows of one shard as a frame of their own, in the frame's order."""
    return EventFrame(frame.df.take(rows).reset_index(drop=True), frame.source)


@dataclass
class Ranked:
    """The rank values of every scored customer seen, in int64 columns: 32 bytes a customer beside its id."""

    ids: list[str] = field(default_factory=list)
    columns: list[list[np.ndarray]] = field(default_factory=lambda: [[] for _ in DIMENSIONS])
    customers: int = 0  # scored or not

    def add(self, states: dict[str, CustomerState], known: dict[str, Totals] | None = None) -> dict[str, Totals]:
        """Rank these customers; returns their totals (a caller scoring them next need not fold them again).
        ``known``: the totals of some of them already (the fold took a plain customer's from the columns)."""
        known = known or {}
        totals = {cid: t if (t := known.get(cid)) is not None else s.totals() for cid, s in states.items()}
        ranked = [(cid, v) for cid, t in totals.items() if (v := rank_values(t)) is not None]
        self.customers += len(states)
        self.ids.extend(cid for cid, _ in ranked)
        for i, column in enumerate(self.columns):
            column.append(np.fromiter((v[i] for _, v in ranked), np.int64, len(ranked)))
        return totals

    def parts(self) -> list[tuple[list[str], list[np.ndarray]]]:
        """Each add's scored customers and their rank values, one column per dimension: a shard's entries
        of the rank index, which a bulk load writes before the shard's profiles."""
        out, start = [], 0
        for n, first in enumerate(self.columns[0]):
            out.append((self.ids[start : start + len(first)], [column[n] for column in self.columns]))
            start += len(first)
        return out

    def boundaries(self, version: int) -> Boundaries:
        """The boundaries of every customer added."""
        columns = [np.concatenate(c) if c else np.empty(0, np.int64) for c in self.columns]
        return boundaries_of_ranks(self.ids, columns, version)
