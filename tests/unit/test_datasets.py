"""The real files in ../shared/data: counts and the top customer the analyses report."""

import gzip
from pathlib import Path

import pandas as pd
import pytest

from stream_app import batch
from stream_app.adapters import flo, online_retail
from stream_app.core.validate import parse

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RETAIL = DATA / "online_retail.csv.gz"
FLO = DATA / "flo_data_20k.csv.gz"


@pytest.fixture(scope="module")
def retail_frame():
    return online_retail.read(str(RETAIL))


@pytest.fixture(scope="module")
def retail_scores(retail_frame):
    return batch.score(retail_frame).set_index("customer_id")


def test_online_retail_scores_4339_customers(retail_frame, retail_scores):
    assert len(retail_scores) == 4339
    assert retail_frame.skipped == {"lines without a customer id": 135080}


def test_customer_14646_is_the_top_spender_and_a_champion(retail_scores):
    top = retail_scores.sort_values("monetary_cents").iloc[-1]
    assert top.name == "14646"
    assert top["monetary"] == "279489.02" and top["frequency"] == 74
    assert top["segment"] == "champions"


def test_online_retail_events_are_one_per_invoice_and_valid(retail_frame):
    df = retail_frame.df
    assert df["order_id"].is_unique
    assert set(df.loc[df["order_id"].str.startswith("C"), "type"]) == {"return"}
    assert (df.loc[df["type"] == "return", "amount_cents"] <= 0).all()
    assert df["customer_id"].str.fullmatch(r"\d+").all()
    for event in list(retail_frame.events())[::97]:
        assert parse(event.to_json()) == event


def test_online_retail_ii_columns_read_the_same(tmp_path):
    lines = gzip.open(RETAIL, "rt").read().splitlines()[:20001]
    header = lines[0].replace("InvoiceNo", "Invoice").replace("UnitPrice", "Price").replace("CustomerID", "Customer ID")
    original, variant = tmp_path / "or.csv", tmp_path / "or2.csv"
    original.write_text("\n".join(lines) + "\n")
    # Online Retail II writes customer ids as floats ("17850.0")
    body = [_float_customer(line) for line in lines[1:]]
    variant.write_text("\n".join([header] + body) + "\n")
    a, b = online_retail.read(str(original)).df, online_retail.read(str(variant)).df
    pd.testing.assert_frame_equal(a, b)


def _float_customer(line: str) -> str:
    parts = line.rsplit(",", 2)
    if parts[1]:
        parts[1] += ".0"
    return ",".join(parts)


def test_flo_scores_every_customer():
    frame = flo.read(str(FLO))
    out = batch.score(frame)
    assert len(frame) == len(out) == 19945
    row = out.set_index("customer_id").loc["cc294636-19f0-11eb-8d74-000d3a38a36f"]
    assert row["frequency"] == 5 and row["monetary"] == "939.37"


def test_flo_snapshots_validate():
    frame = flo.read(str(FLO))
    for event in list(frame.events())[::53]:
        assert parse(event.to_json()) == event
