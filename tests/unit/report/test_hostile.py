"""`rfm-stream report` draws any valid input: zero money on log axes, dates at the ends of the calendar, labels
that matplotlib would read as math, more audiences than a chart can hold; and refuses an --out it cannot write."""

import json

import pandas as pd
import pytest

from stream_app.audiences import rules
from stream_app.cli import main
from stream_app.report import html, plots


def events(tmp_path, *rows):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"type": "order", "order_id": str(i), **r}) + "\n" for i, r in enumerate(rows)))
    return path


def report(tmp_path, capsys, path, *extra):
    out = tmp_path / "report.html"
    capsys.readouterr()
    status = main(["report", str(path), "--format", "events", "--out", str(out), *extra])
    return status, capsys.readouterr().err, out


def test_every_monetary_zero(tmp_path, capsys):
    path = events(tmp_path, {"customer_id": "a", "occurred_at": "2011-01-04T10:00:00Z", "amount": 0},
                  {"customer_id": "b", "occurred_at": "2011-01-05T10:00:00Z", "amount": 0})
    status, err, out = report(tmp_path, capsys, path)
    assert status == 0, err
    page = out.read_text()
    assert "2 customers with no positive monetary (returns) cannot be drawn on a log axis" in page
    assert page.count("data:image/png;base64,") == 6


@pytest.mark.parametrize("occurred_at,shown", [("0001-01-01T00:00:00+01:00", "before 0001-01-01"),
                                               ("0001-01-01T00:00:00Z", "0001-01-01")])
def test_a_customer_at_the_start_of_the_calendar(tmp_path, capsys, occurred_at, shown):
    path = events(tmp_path, {"customer_id": "a", "occurred_at": occurred_at, "amount": 5})
    status, err, out = report(tmp_path, capsys, path)
    if status == 2:  # the event contract may refuse the date; then with the one line of every refusal
        assert err.startswith(f"error: {path}, line 1") and err.count("\n") == 1, err
        return
    assert status == 0, err
    assert f"<b>{shown}</b><span>latest order</span>" in out.read_text()


def frame(rows):
    base = {"recency_days": 1, "frequency": 2, "monetary_cents": 1000, "aov_cents": 500, "r_score": 5, "f_score": 5,
            "m_score": 5, "aov_score": 5, "rfm_sum": 15, "value_band": "high", "segment": "champions",
            "last_order_us": 0, "categories": (), "channel": None}
    return pd.DataFrame([{**base, **r} for r in rows])


MATH = ["$\\frac{1}{0}$", "$x^$", "$$", "a$b$c\\", "$\\undefinedcommand{$"]


def test_labels_that_matplotlib_would_read_as_math():
    """Profiles read back from Redis carry whatever segment names were written there."""
    df = frame([{"customer_id": f"c{i}", "segment": s, "monetary_cents": 1000 * (i + 1)} for i, s in enumerate(MATH)]
               + [{"customer_id": "long", "segment": "x" * 10_000 + "\n$y$"}])
    page = html.render(df, rules.load(), "$\\frac{$")
    assert "$\\frac{1}{0}$" in page and "$x^$" in page


def test_money_that_rounds_to_zero_and_only_negative_money():
    one_cent = frame([{"customer_id": "a", "monetary_cents": 1, "aov_cents": 0, "frequency": 3}])
    assert "RFM report" in html.render(one_cent, rules.load(), "one cent")
    returns = frame([{"customer_id": "a", "monetary_cents": -500, "aov_cents": -250}])
    assert "RFM report" in html.render(returns, rules.load(), "returns")


def test_extreme_but_valid_numbers():
    df = frame([{"customer_id": "a", "monetary_cents": 9 * 10**17, "aov_cents": 9 * 10**17, "frequency": 1},
                {"customer_id": "b", "monetary_cents": 1, "aov_cents": 1, "frequency": 10**6, "recency_days": 3_000_000}])
    assert "9,000,000,000,000,000.00" in html.render(df, rules.load(), "extremes")


def test_more_audiences_than_a_chart_holds(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("audiences:\n" + "".join(f"  - name: a{i}\n    all:\n      - {{field: frequency, op: gte, value: {i}}}\n"
                                             for i in range(300)))
    many = rules.load(path)
    page = html.render(frame([{"customer_id": "a", "frequency": 150}]), many, "many")
    assert page.count("<li><b>a") == 300  # the table and the rule list keep every audience
    table = pd.DataFrame({"audience": [f"a{i}" for i in range(300)], "customers": [(i * 7) % 300 for i in range(300)]})
    kept, note = plots._largest(table, "customers")
    assert len(kept) == plots.MAX_BARS and note == f" ({plots.MAX_BARS} largest of 300)"
    assert sorted(kept["customers"]) == list(range(260, 300)) and list(kept.index) == sorted(kept.index)


def test_labels_are_one_short_line():
    assert plots.label("x" * 100) == "x" * (plots.MAX_LABEL - 1) + "\u2026"
    assert plots.label("a\nb\tc") == "a b c"
    assert plots.label("$\\frac{1}{0}$") == "\\$\\frac{1}{0}\\$"


@pytest.mark.parametrize("case", ["the_input", "a_link_to_the_input", "a_folder"])
def test_an_out_the_report_cannot_become_is_refused_before_scoring(case, tmp_path, capsys):
    path = events(tmp_path, {"customer_id": "a", "occurred_at": "2011-01-04T10:00:00Z", "amount": 5})
    before = path.read_bytes()
    out = {"the_input": path, "a_link_to_the_input": tmp_path / "link", "a_folder": tmp_path / "folder"}[case]
    if case == "a_link_to_the_input":
        out.symlink_to(path)
    elif case == "a_folder":
        out.mkdir()
    capsys.readouterr()
    assert main(["report", str(path), "--format", "events", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert path.read_bytes() == before


GOOD_HASH = {"segment": "champions", "r_score": "5", "f_score": "4", "m_score": "3", "frequency": "2",
             "monetary": "10.00", "aov": "5.00", "last_order_at": "2011-01-04T10:00:00Z"}


BAD_FIELDS = [
    ("r_score", "9"), ("f_score", "0"), ("m_score", "x"), ("aov_score", "6"), ("rfm_sum", "99"),
    ("frequency", "9" * 30), ("frequency", "-1"), ("monetary", "nan"), ("monetary", "1e400"), ("monetary", "9" * 30),
    ("aov", "abc"), ("last_order_at", "yesterday"), ("last_order_at", "-" + "9" * 25), ("last_order_at", "9" * 25),
]


@pytest.mark.parametrize("field,value", BAD_FIELDS)
def test_a_profile_hash_the_worker_cannot_have_written_is_skipped_and_counted(field, value):
    from stream_app.report import redis_source

    df = redis_source.profiles_frame({"good": GOOD_HASH, "bad": {**GOOD_HASH, field: value}})
    assert list(df["customer_id"]) == ["good"] and df.attrs["unreadable"] == 1


def test_the_report_of_the_readable_profiles_among_bad_ones():
    from stream_app.report import redis_source

    hashes = {"good": GOOD_HASH, **{f"bad{i}": {**GOOD_HASH, f: v} for i, (f, v) in enumerate(BAD_FIELDS)}}
    df = redis_source.profiles_frame(hashes)
    assert df.attrs["unreadable"] == len(BAD_FIELDS)
    assert "<b>1</b><span>customers</span>" in html.render(df, rules.load(), "redis")
