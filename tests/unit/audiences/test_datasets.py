"""Default audiences on Online Retail and FLO equal an independent plain-pandas computation, customer for customer.

The reference reads the published batch output (the CSV of `rfm-stream batch`) and, for FLO's
categories, the raw CSV itself; it shares no code with the rule engine. Both the `audiences` column
of `batch` and the NAME.csv files of `rfm-stream audiences` are held to it.
"""

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from stream_app.cli import main

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
RETAIL = DATA / "online_retail.csv.gz"
FLO = DATA / "flo_data_20k.csv.gz"
NAMES = ("vip_high_aov", "frequent_buyer_bonus", "reactivation", "flo_womens_new_brand", "flo_men_kids_discount")
SIZES = {
    "online-retail": {"vip_high_aov": 343, "frequent_buyer_bonus": 1164, "reactivation": 779,
                      "flo_womens_new_brand": 0, "flo_men_kids_discount": 0},
    "flo": {"vip_high_aov": 1891, "frequent_buyer_bonus": 4766, "reactivation": 2750,
            "flo_womens_new_brand": 144, "flo_men_kids_discount": 1508},
}


def independent(out: pd.DataFrame, categories: pd.Series) -> dict[str, set[str]]:
    """The five default rules, written out by hand over the batch output."""
    aov = out["aov"].map(Decimal)
    cats = categories.reindex(out["customer_id"]).fillna("").to_numpy()
    has = lambda *names: pd.Series([bool(set(c.split("|")) & set(names)) if c else False for c in cats], index=out.index)  # noqa: E731
    member = {
        "vip_high_aov": (out["aov_score"] == 5) & (out["f_score"] <= 2),
        "frequent_buyer_bonus": (out["f_score"] >= 4) & (out["aov_score"] >= 3),
        "reactivation": (out["value_band"] == "low") & (out["aov_score"] <= 2),
        "flo_womens_new_brand": out["segment"].isin(["champions", "loyal_customers"]) & (aov > 250) & has("KADIN"),
        "flo_men_kids_discount": out["segment"].isin(["cant_lose", "about_to_sleep", "new_customers"]) & has("ERKEK", "COCUK"),
    }
    return {name: set(out.loc[mask, "customer_id"]) for name, mask in member.items()}


def flo_categories() -> pd.Series:
    raw = pd.read_csv(FLO, dtype=str, usecols=["master_id", "interested_in_categories_12"])
    cleaned = raw["interested_in_categories_12"].str.strip("[]").str.split(",").map(lambda xs: "|".join(x.strip() for x in xs if x.strip()))
    return pd.Series(cleaned.to_numpy(), index=raw["master_id"].str.strip())


@pytest.fixture(scope="module", params=[("online-retail", RETAIL), ("flo", FLO)], ids=["online-retail", "flo"])
def run(request, tmp_path_factory):
    fmt, path = request.param
    tmp = tmp_path_factory.mktemp(fmt)
    assert main(["batch", str(path), "--format", fmt, "--out", str(tmp / "scores.csv")]) == 0
    assert main(["audiences", str(path), "--format", fmt, "--out", str(tmp / "audiences")]) == 0
    out = pd.read_csv(tmp / "scores.csv", dtype={"customer_id": str, "aov": str, "monetary": str, "audiences": str},
                      keep_default_na=False)
    cats = flo_categories() if fmt == "flo" else pd.Series(dtype=str)
    return fmt, out, independent(out, cats), tmp / "audiences"


def test_batch_audiences_column_equals_the_independent_computation(run):
    fmt, out, expected, _ = run
    listed = out["audiences"].map(lambda s: set(s.split(";")) if s else set())
    for name in NAMES:
        assert set(out.loc[listed.map(lambda s: name in s), "customer_id"]) == expected[name], (fmt, name)
    assert all(s == ";".join(sorted(s.split(";"))) for s in out["audiences"])


def test_audience_files_equal_the_independent_computation(run):
    fmt, _, expected, folder = run
    for name in NAMES:
        ids = pd.read_csv(folder / f"{name}.csv", dtype=str)["customer_id"].tolist()
        assert ids == sorted(ids)
        assert set(ids) == expected[name], (fmt, name)
    assert {name: len(expected[name]) for name in NAMES} == SIZES[fmt]
    print(f"\n{fmt} audience sizes: {SIZES[fmt]}")


def test_audiences_prints_a_table_of_sizes_and_shares(tmp_path, capsys):
    assert main(["audiences", str(RETAIL), "--format", "online-retail", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["audience", "customers", "%", "customers", "revenue", "%", "revenue"]
    assert lines[1].split() == ["vip_high_aov", "343", "7.9%", "370,142.38", "4.5%"]
    assert lines[2].split()[:3] == ["frequent_buyer_bonus", "1,164", "26.8%"]
    assert len(lines) == 6
