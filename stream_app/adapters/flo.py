"""FLO omnichannel customers -> one ``snapshot`` event per customer.

orders = online + offline order counts, monetary = online + offline values
(each read exactly to the cent), first/last order dates from the file
(midnight UTC), channel = order_channel, categories = interested_in_categories_12
("[KADIN, ERKEK]" -> ("KADIN", "ERKEK"), "[]" -> ()). A CRM export has no time
of its own, so a snapshot is dated at the customer's last order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stream_app.adapters import csvread
from stream_app.adapters.frame import EventFrame, normalise
from stream_app.core.validate import customer_id_pattern
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
    csvread.fail_at(~customer.str.match(customer_id_pattern()).to_numpy(), raw.index, col("customer"),
                    "unknown customer id format", source, cols["customer"])
    dup = customer.duplicated().to_numpy()
    csvread.fail_at(dup, raw.index, col("customer"), "customer appears twice", source, cols["customer"])

    orders = np.zeros(len(raw), np.int64)
    for field in ("orders_online", "orders_offline"):
        num = csvread.to_number(col(field), source, cols[field])
        csvread.fail_at((num < 0) | (num != np.rint(num)), raw.index, col(field), "not a whole, non-negative count", source, cols[field])
        orders += num.astype(np.int64)
    monetary = np.zeros(len(raw), np.int64)
    for field in ("value_online", "value_offline"):
        num = csvread.to_number(col(field), source, cols[field])
        csvread.fail_at(num < 0, raw.index, col(field), "negative value", source, cols[field])
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
    return EventFrame(normalise(df), source)


def _categories(text: str, index: int, source: str, field: str) -> tuple[str, ...]:
    s = text.strip()
    if not s:
        return ()
    if not (s.startswith("[") and s.endswith("]")):
        raise BadInput(f"expected a list like [KADIN, ERKEK]: {text!r}", source=source, line=index + 2, field=field)
    return tuple(p.strip().strip("'\"") for p in s[1:-1].split(",") if p.strip())
