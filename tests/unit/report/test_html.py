"""The HTML report: self-contained, fast enough, and its tables equal plain pandas over the batch output."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from stream_app import batch
from stream_app.adapters import online_retail
from stream_app.audiences import rules
from stream_app.cli import main
from stream_app.report import html, redis_source

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
RETAIL = DATA / "online_retail.csv.gz"


class Tables(HTMLParser):
    """Section title -> list of tables, each a list of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, list[list[list[str]]]] = {}
        self.images: list[str] = []
        self._title = None
        self._in_h2 = False
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self._in_h2, self._title = True, ""
        elif tag == "table":
            self.sections.setdefault(self._title, []).append([])
        elif tag == "tr":
            self.sections[self._title][-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(a.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag in ("td", "th"):
            self.sections[self._title][-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._in_h2:
            self._title += data
        elif self._cell is not None:
            self._cell += data


def parse(page: str) -> Tables:
    p = Tables()
    p.feed(page)
    return p


def money(cents) -> str:
    return f"{cents / 100:,.2f}"


@pytest.fixture(scope="module")
def scored():
    return batch.score(online_retail.read(str(RETAIL)))


@pytest.fixture(scope="module")
def page(scored):
    return html.render(scored, rules.load(), "online retail")


def test_report_is_self_contained(page):
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link|iframe)\b", page)
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:|//)", page)
    assert "url(" not in page and "@import" not in page
    images = parse(page).images
    assert len(images) == 6
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_top_ten_by_monetary_with_orders_and_aov(page, scored):
    rows = parse(page).sections["Top 10 customers by monetary"][0]
    assert rows[0] == ["#", "customer", "orders", "monetary", "AOV", "segment", "recency (days)"]
    expected = scored.sort_values(["monetary_cents", "customer_id"], ascending=[False, True]).head(10)
    assert [r[1] for r in rows[1:]] == expected["customer_id"].tolist()
    assert rows[1][1:5] == ["14646", "74", "279,489.02", "3,776.88"]
    assert [r[2] for r in rows[1:]] == [f"{f:,}" for f in expected["frequency"]]
    assert [r[4] for r in rows[1:]] == [money(c) for c in expected["aov_cents"]]


def test_segment_sizes_and_revenue_shares(page, scored):
    rows = parse(page).sections["Segments"][0][1:]
    total = scored["monetary_cents"].sum()
    g = scored.groupby("segment").agg(n=("customer_id", "size"), cents=("monetary_cents", "sum"))
    assert len(rows) == len(g)
    for seg, n, share, revenue, rshare, *_ in rows:
        assert n == f"{g.loc[seg, 'n']:,}"
        assert share == f"{100 * g.loc[seg, 'n'] / len(scored):.1f}%"
        assert revenue == money(g.loc[seg, "cents"])
        assert rshare == f"{100 * g.loc[seg, 'cents'] / total:.1f}%"
    assert [r[0] for r in rows][0] == "champions"  # largest revenue first


def test_rf_grid_counts_and_mean_monetary(page, scored):
    rows = parse(page).sections["Recency by frequency"][0]
    assert rows[0] == ["", "F1", "F2", "F3", "F4", "F5"]
    g = scored.groupby(["r_score", "f_score"])["monetary_cents"].agg(["size", "mean"])
    for row in rows[1:]:
        r = int(row[0][1])
        for f, cell in enumerate(row[1:], start=1):
            assert cell == f"{g.loc[(r, f), 'size']:,} / {money(round(g.loc[(r, f), 'mean']))}"
    assert sum(int(c.split(" / ")[0].replace(",", "")) for row in rows[1:] for c in row[1:]) == len(scored)


def test_band_shares(page, scored):
    rows = parse(page).sections["RFM-sum distribution and value bands"][0][1:]
    counts = scored["value_band"].value_counts()
    assert [r[0] for r in rows] == ["low", "mid", "high"]
    assert [r[1] for r in rows] == [f"{counts[b]:,}" for b in ("low", "mid", "high")]
    assert sum(float(r[2].rstrip("%")) for r in rows) == pytest.approx(100, abs=0.15)


def test_frequency_against_aov_numbers(page, scored):
    by_bins, by_aov = parse(page).sections["Frequency against monetary and AOV"]
    one = scored[scored["frequency"] == 1]
    assert by_bins[1][:3] == ["1 order", f"{len(one):,}", money(one["aov_cents"].median())]
    top = scored.nlargest(10, "aov_cents")
    assert [r[0] for r in by_aov[1:]] == top["customer_id"].tolist()


def test_audience_sizes_in_the_report(page, scored):
    rows = parse(page).sections["Audiences"][0][1:]
    listed = scored["audiences"].str.split(";")
    for name, n, *_ in rows:
        assert int(n.replace(",", "")) == sum(name in x for x in listed)
    assert [r[0] for r in rows] == list(rules.load().names)
    assert "aov_score = 5 and f_score &lt;= 2" in page


def test_text_is_escaped():
    df = pd.DataFrame([{"customer_id": "a<b", "recency_days": 1, "frequency": 2, "monetary_cents": 1000, "aov_cents": 500,
                        "r_score": 5, "f_score": 5, "m_score": 5, "aov_score": 5, "rfm_sum": 15, "value_band": "high",
                        "segment": "<script>x</script>", "last_order_us": 0, "categories": (), "channel": None}])
    page = html.render(df, rules.load(), "<file>")
    assert "<script>" not in page and "&lt;script&gt;" in page and "a&lt;b" in page and "&lt;file&gt;" in page


def test_an_empty_population_still_renders():
    df = pd.DataFrame(columns=["customer_id", "recency_days", "frequency", "monetary_cents", "aov_cents", "r_score",
                               "f_score", "m_score", "aov_score", "rfm_sum", "value_band", "segment", "categories", "channel"])
    page = html.render(df, rules.load(), "nothing")
    assert "<b>0</b><span>customers</span>" in page


def test_report_command_on_online_retail(tmp_path):
    """Its speed (about 5 s) is measured by benchmarks/report_bench.py, not here: a shared machine's load would decide."""
    out = tmp_path / "report.html"
    assert main(["report", str(RETAIL), "--format", "online-retail", "--out", str(out)]) == 0
    assert "14646" in out.read_text()


@pytest.mark.parametrize("args,message", [
    ([], "give either INPUT with --format, or --from-redis"),
    ([str(RETAIL), "--from-redis"], "give either INPUT with --format, or --from-redis"),
    ([str(RETAIL)], "--format is required with INPUT"),
    (["--from-redis", "--format", "flo"], "--format and --as-of apply to INPUT"),
])
def test_report_arguments(tmp_path, capsys, args, message):
    assert main(["report", *args, "--out", str(tmp_path / "r.html")]) == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- profiles read back from Redis hashes


def as_hash(row) -> dict[str, str]:
    """A profile hash as the worker writes it: strings, money in major units, RFC 3339 times."""
    from stream_app.core.timeutil import format_us

    h = {k: str(row[k]) for k in ("segment", "r_score", "f_score", "m_score", "aov_score", "rfm_score", "rfm_sum",
                                  "value_band", "frequency", "monetary", "aov")}
    h["last_order_at"] = format_us(int(row["last_order_us"]))
    if row["channel"]:
        h["channel"] = row["channel"]
    if row["categories"]:
        h["categories"] = ",".join(row["categories"])
    return h


def test_profiles_frame_from_hashes_equals_the_batch_frame(scored):
    hashes = {row["customer_id"]: as_hash(row) for row in scored.to_dict("records")}
    hashes["returns-only"] = {"frequency": "0", "monetary": "-5.00"}  # no scores: left out
    df = redis_source.profiles_frame(hashes)
    cols = ["customer_id", "frequency", "monetary_cents", "aov_cents", "last_order_us", "r_score", "f_score", "m_score",
            "rfm_score", "rfm_sum", "value_band", "segment", "monetary", "aov", "categories"]
    pd.testing.assert_frame_equal(df[cols], scored[cols], check_dtype=False)
    assert (df["aov_score"].astype(int).to_numpy() == scored["aov_score"].to_numpy()).all()
    # recency is measured to the latest order; batch measures to the latest event (a later return can exist)
    lag = (scored["recency_days"] - df["recency_days"]).unique()
    assert len(lag) == 1 and 0 <= lag[0] <= 1
    r = rules.load()
    assert [r.membership(p) for p in df.to_dict("records")] == [x.split(";") if x else [] for x in scored["audiences"]]

