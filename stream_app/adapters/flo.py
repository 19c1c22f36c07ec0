"""FLO omnichannel customers -> one ``snapshot`` event per customer.

orders = online + offline order counts, monetary = online + offline values
(each read exactly to the cent), first/last order dates from the file
(midnight UTC), channel = order_channel, categories = interested_in_categories_12
("[KADIN, ERKEK]" -> ("KADIN", "ERKEK"), "[]" -> ()). A CRM export has no time
of its own, so a snapshot is dated at the customer's last order.

Counts and values are bounded (the event contract's limits) before they become
int64, so 1e19 or 1e308 is an error line, never a wrapped or lost customer.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from stream_app.adapters import csvread
from stream_app.adapters.frame import EventFrame, normalise
from stream_app.core.validate import limits
from stream_app.errors import BadInput

COLUMNS = {
    "customer": ("master_id",),
    "channel": ("order_channel",),
    "first": ("first_order_date",),
    "last": ("last_order_date",),
    "orders_online": ("order_num_total_ever_online",),
    "orders_offline": ("order_num_total_ever_offline",),
    "value_offline": ("customer_value_total_ever_offline",),
    "value_online": ("customer_value_total_ever_online",),
    "categories": ("interested_in_categories_12",),
}


def read(path: str) -> EventFrame:
    source = str(path)
    cols = csvread.pick(csvread.header(path), COLUMNS, source)
    raw = csvread.read(path, list(cols.values()))

    def col(field: str) -> pd.Series:
        return raw[cols[field]]

    customer = col("customer").str.strip()
    dup = customer.duplicated().to_numpy()
    csvread.fail_at(dup, raw.index, col("customer"), "customer appears twice", source, cols["customer"])

    lim = limits()
    orders = np.zeros(len(raw), np.int64)
    for field in ("orders_online", "orders_offline"):
        num = csvread.to_number(col(field), source, cols[field])
        csvread.fail_at((num < 0) | (num != np.rint(num)), raw.index, col(field), "not a whole, non-negative count", source, cols[field])
        csvread.fail_at(num > lim.orders[1], raw.index, col(field), f"beyond the order count limit of {lim.orders[1]:,}",
                        source, cols[field])
        orders += num.astype(np.int64)
    monetary = np.zeros(len(raw), np.int64)
    for field in ("value_online", "value_offline"):
        num = csvread.to_number(col(field), source, cols[field])
        csvread.fail_at(num < 0, raw.index, col(field), "negative value", source, cols[field])
        csvread.fail_at(num > lim.monetary_cents[1] / 100, raw.index, col(field),
                        f"beyond the amount limit of {lim.monetary_cents[1] // 100:,}", source, cols[field])
        monetary += csvread.exact_units(num, 100, col(field), source, cols[field])
    first = csvread.to_epoch_us(col("first"), source, cols["first"])
    last = csvread.to_epoch_us(col("last"), source, cols["last"])
    csvread.fail_at(first > last, raw.index, col("first"), "first order after last order", source, cols["first"])

    df = pd.DataFrame(
        {
            "type": "snapshot",
            "customer_id": customer.to_numpy(dtype=object),
            "order_id": None,
            "occurred_us": last,
            "amount_cents": 0,
            "orders": orders,
            "monetary_cents": monetary,
            "first_order_us": first,
            "last_order_us": last,
            "currency": None,
            "channel": col("channel").str.strip().replace("", None).to_numpy(dtype=object),
            "country": None,
            "categories": [_categories(v, i, source, cols["categories"]) for i, v in zip(raw.index, col("categories"))],
        }
    )
    columns = {"customer_id": cols["customer"], "occurred_at": cols["last"], "first_order_at": cols["first"],
               "last_order_at": cols["last"], "channel": cols["channel"], "categories": cols["categories"],
               "orders": f"{cols['orders_online']} + {cols['orders_offline']}",
               "monetary": f"{cols['value_online']} + {cols['value_offline']}"}
    return EventFrame(normalise(df), source, records=raw.index.to_numpy(), line_of=partial(csvread.line_of, path),
                      columns=columns)


def _categories(text: str, index: int, source: str, field: str) -> tuple[str, ...]:
    s = text.strip()
    if not s:
        return ()
    if not (s.startswith("[") and s.endswith("]")):
        raise BadInput(f"expected a list like [KADIN, ERKEK]: {csvread.textfile.shorten(repr(text))}", source=source,
                       line=csvread.line_of(source, index), field=field)
    return tuple(p.strip().strip("'\"") for p in s[1:-1].split(",") if p.strip())
