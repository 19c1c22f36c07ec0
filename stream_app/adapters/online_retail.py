"""UCI Online Retail (and its "Online Retail II" release) -> one event per invoice.

An invoice becomes an ``order`` (or a ``return`` when its number starts with
C) of its customer, at the earliest line time (the file's times are UTC), for
the exact sum of quantity x unit price: prices are read as integer millionths
and the invoice total rounded half-even to the cent. Lines without a customer
id are skipped and counted in ``EventFrame.skipped``.

The file is read with Arrow's CSV reader (typed columns, about 4x faster than
pandas' parser here); when a column does not convert, the file is read again
as text only to name the first bad line and field.

Money stays exact and bounded: a unit price must be finite and within the
event amount limit (10^9), a line's quantity x price too, so that every product
fits an int64; an invoice total beyond int64 is clamped before the event
contract refuses it (frame.check), never wrapped.
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from stream_app.adapters import csvread, textfile
from stream_app.adapters.frame import MISSING_TIME, EventFrame, normalise
from stream_app.core.money import div_round_half_even_array
from stream_app.core.validate import limits
from stream_app.errors import BadInput

COLUMNS = {
    "invoice": ("InvoiceNo", "Invoice"),
    "quantity": ("Quantity",),
    "date": ("InvoiceDate",),
    "price": ("UnitPrice", "Price"),
    "customer": ("CustomerID", "Customer ID"),
    "country": ("Country",),
}
DATE_FORMATS = [pcsv.ISO8601, "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"]
PRICE_SCALE = 1_000_000  # unit prices as integer millionths
TO_CENTS = PRICE_SCALE // 100
CUSTOMER_ID = re.compile(r"[0-9]+(\.0*)?")  # ASCII digits: \d would let Arabic-Indic or full-width ones in
ZONED_TIME = re.compile(r"(?:Z|[+-]\d\d:?\d\d)\s*$", re.IGNORECASE)
#: the largest unit price and line total (|quantity x price|) in millionths: the event amount limit
LINE_LIMIT_UNITS = limits().amount_cents[1] * TO_CENTS
INT64_SAFE = 2**62  # an invoice total in millionths beyond this is clamped here (and then refused)


def read(path: str) -> EventFrame:
    source = str(path)
    textfile.check_file(path)
    cols = csvread.pick(csvread.header(path), COLUMNS, source)
    try:
        table = _read_typed(path, cols)
    except csvread.READ_ERRORS as exc:
        problem = csvread.diagnose(path, exc)
        _locate_bad_cell(path, cols, source)
        raise problem from None
    line_of = partial(csvread.line_of, path)

    customer = table.column(cols["customer"])
    keep = pc.is_valid(customer).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(keep)  # file row positions of the lines kept
    skipped = len(keep) - len(rows)
    table = table.filter(pa.array(keep))

    cust_codes, cust_ids = _encode(table.column(cols["customer"]))
    bad = [i for i, c in enumerate(cust_ids) if not CUSTOMER_ID.fullmatch(c.strip())]
    if bad:
        pos = int(np.argmax(np.isin(cust_codes, bad)))
        raise BadInput(f"unknown customer id format (expected an integer): {textfile.shorten(repr(cust_ids[bad[0]]))}",
                       source=source, line=line_of(int(rows[pos])), field=cols["customer"])
    cust_ids = np.array([c.strip().split(".", 1)[0].lstrip("0") or "0" for c in cust_ids], dtype=object)

    inv_codes, inv_ids = _encode(table.column(cols["invoice"]))
    qty = table.column(cols["quantity"]).to_numpy().astype(np.int64)
    price = table.column(cols["price"]).to_numpy()
    _fail_line(~np.isfinite(price), "not a number", price, rows, line_of, source, cols["price"])
    _fail_line(np.abs(price) > LINE_LIMIT_UNITS / PRICE_SCALE, f"beyond the amount limit of {_limit()}", price, rows,
               line_of, source, cols["price"])
    price_units, inexact = csvread.to_units(price, PRICE_SCALE)
    _fail_line(inexact, csvread.too_many_decimals(PRICE_SCALE), price, rows, line_of, source, cols["price"])
    # the float product only screens: exact int64 products are compared once they surely fit
    rough = np.abs(qty.astype(np.float64)) * np.abs(price_units.astype(np.float64))
    too_big = rough > 2 * LINE_LIMIT_UNITS
    units = np.where(too_big, 0, qty) * price_units
    _fail_line(too_big | (np.abs(units) > LINE_LIMIT_UNITS), f"quantity x unit price is beyond the amount limit of {_limit()}",
               qty, rows, line_of, source, cols["quantity"])
    when = table.column(cols["date"]).cast(pa.timestamp("us")).to_numpy().astype(np.int64)
    country = table.column(cols["country"]).to_numpy(zero_copy_only=False)

    lines = pd.DataFrame({"inv": inv_codes, "cust": cust_codes, "units": units, "rough": units.astype(np.float64), "t": when})
    g = lines.groupby("inv", sort=False)
    agg = g.agg(cust=("cust", "first"), cust_max=("cust", "max"), cust_min=("cust", "min"),
                units=("units", "sum"), rough=("rough", "sum"), t=("t", "min"))
    # an int64 sum is exact (even through wrap-around) when the true total fits; the float sum says when it may not
    overflow = np.abs(agg["rough"].to_numpy()) > INT64_SAFE
    total_units = np.where(overflow, np.sign(agg["rough"].to_numpy()).astype(np.int64) * INT64_SAFE, agg["units"].to_numpy())
    first_row = g.cumcount().to_numpy() == 0
    first_pos = np.flatnonzero(first_row)  # first line of each invoice, in agg's order
    inv_index = agg.index.to_numpy()

    mixed = (agg["cust_max"] != agg["cust_min"]).to_numpy()
    _fail_invoice(mixed, "names more than one customer", inv_ids[inv_index], rows[first_pos], line_of, source, cols["customer"])
    names = inv_ids[inv_index]
    is_return = np.char.startswith(names.astype(str), "C")
    cents = div_round_half_even_array(total_units, TO_CENTS)
    _fail_invoice(is_return & (cents > 0), "is a cancellation (C...) with a positive total", names, rows[first_pos],
                  line_of, source, cols["quantity"])
    _fail_invoice(~is_return & (cents < 0), "is an order with a negative total", names, rows[first_pos],
                  line_of, source, cols["quantity"])

    n = len(agg)
    df = pd.DataFrame(
        {
            "type": np.where(is_return, "return", "order"),
            "customer_id": cust_ids[agg["cust"].to_numpy()],
            "order_id": names,
            "occurred_us": agg["t"].to_numpy(),
            "amount_cents": cents,
            "orders": np.zeros(n, np.int64),
            "monetary_cents": np.zeros(n, np.int64),
            "first_order_us": np.full(n, MISSING_TIME),
            "last_order_us": np.full(n, MISSING_TIME),
            "currency": None,
            "channel": None,
            "country": country[first_pos],
            "categories": [()] * n,
        }
    )
    columns = {"customer_id": cols["customer"], "order_id": cols["invoice"], "occurred_at": cols["date"],
               "amount": cols["price"], "country": cols["country"]}
    return EventFrame(normalise(df), source, {"lines without a customer id": skipped} if skipped else {},
                      records=rows[first_pos], line_of=line_of, columns=columns)


def _read_typed(path: str, cols: dict[str, str]) -> pa.Table:
    types = {
        cols["invoice"]: pa.string(),
        cols["quantity"]: pa.int64(),
        cols["date"]: pa.timestamp("us"),
        cols["price"]: pa.float64(),
        cols["customer"]: pa.string(),
        cols["country"]: pa.string(),
    }
    table = pcsv.read_csv(
        path,
        parse_options=csvread.PARSE_OPTIONS,
        convert_options=pcsv.ConvertOptions(
            include_columns=list(types), column_types=types, timestamp_parsers=DATE_FORMATS,
            strings_can_be_null=True, null_values=[""],
        ),
    )
    for field in ("invoice", "quantity", "date", "price"):
        if table.column(cols[field]).null_count:
            raise pa.ArrowInvalid(f"empty cell in column {cols[field]}")
    return table


def _locate_bad_cell(path: str, cols: dict[str, str], source: str) -> None:
    """Read as text and raise BadInput at the first cell that does not convert."""
    raw = csvread.read(path, list(cols.values()))
    raw = raw[(raw[cols["customer"]].str.strip() != "").to_numpy()]
    csvread.fail_at((raw[cols["invoice"]].str.strip() == "").to_numpy(), raw.index, raw[cols["invoice"]],
                    "empty invoice number", source, cols["invoice"])
    qty = csvread.to_number(raw[cols["quantity"]], source, cols["quantity"])
    csvread.fail_at(qty != np.rint(qty), raw.index, raw[cols["quantity"]], "not a whole quantity", source, cols["quantity"])
    csvread.fail_at(np.abs(qty) >= 2.0**63, raw.index, raw[cols["quantity"]], "quantity out of range", source, cols["quantity"])
    csvread.to_number(raw[cols["price"]], source, cols["price"])
    dates = raw[cols["date"]]
    csvread.fail_at(dates.str.contains(ZONED_TIME).to_numpy(dtype=bool), raw.index, dates,
                    "a time with a zone; the file's times are UTC, written without one", source, cols["date"])
    csvread.to_epoch_us(dates, source, cols["date"], fmt="mixed")


def _encode(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary-encode a string column: integer codes per row and the distinct values."""
    enc = pc.dictionary_encode(column).combine_chunks()
    return enc.indices.to_numpy().astype(np.int64), np.asarray(enc.dictionary.to_pylist(), dtype=object)


def _fail_invoice(mask: np.ndarray, what: str, names: np.ndarray, records: np.ndarray, line_of, source: str,
                  field: str) -> None:
    if mask.any():
        i = int(np.argmax(mask))
        raise BadInput(f"invoice {textfile.shorten(repr(names[i]))} {what}", source=source, line=line_of(int(records[i])),
                       field=field)


def _fail_line(mask: np.ndarray, what: str, values: np.ndarray, records: np.ndarray, line_of, source: str, field: str) -> None:
    """BadInput at the first kept line where mask is true; ``records`` maps kept lines to file records."""
    if mask.any():
        i = int(np.argmax(mask))
        value = values[i].item() if isinstance(values[i], np.generic) else values[i]
        raise BadInput(f"{what}: {value!r}", source=source, line=line_of(int(records[i])), field=field)


def _limit() -> str:
    return f"{limits().amount_cents[1] // 100:,}"
