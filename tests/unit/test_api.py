"""stream_app.api.score_file: what a notebook gets is what `rfm-stream batch` and `audiences` write.

Each case runs the command as a user does, in a separate process, and compares its files byte for byte
with the library's result written the same way, so a difference in rows, columns, order or rules shows.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from stream_app.api import parse_as_of, score_file
from stream_app.audiences.summary import write_lists
from stream_app.errors import BadInput
from stream_app.output import write_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
RETAIL_ROWS = [
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
    "536366,22633,HAND WARMER,6,2010-12-02 08:28:00,1.85,13047,United Kingdom",
    "536367,22633,NO CUSTOMER,6,2010-12-02 08:28:00,1.85,,United Kingdom",
    "536368,22633,HAND WARMER,6,2010-12-02 08:28:00,1.85,12000,United Kingdom",
    "C536369,22633,HAND WARMER,-2,2010-12-03 08:28:00,1.85,13047,United Kingdom",
]
RULES = """\
version: 1
audiences:
  - name: big_spenders
    description: the top monetary quintile
    all:
      - {field: m_score, op: gte, value: 5}
"""


def rfm_stream(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream_app.cli", *map(str, args)], capture_output=True, text=True,
                          check=True)


def skipped_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("skipped ")]


@pytest.fixture
def retail(tmp_path) -> Path:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([RETAIL_HEADER, *RETAIL_ROWS]) + "\n")
    return path


CASES = {  # name -> (input file, format, options as the command line spells them)
    "events fixture": (FIXTURES / "events_valid.jsonl", "events", {}),
    "retail, as of and value ties": ("RETAIL", "online-retail", {"as_of": "2010-12-31", "ties": "value"}),
    "retail, an as-of time": ("RETAIL", "online-retail", {"as_of": "2010-12-04T12:30:00+01:00"}),
    "retail, own rules": ("RETAIL", "online-retail", {"audiences": "RULES"}),
}


@pytest.mark.parametrize("suffix", [".csv", ".json"])
@pytest.mark.parametrize("case", CASES)
def test_score_file_writes_what_batch_writes(tmp_path, retail, case, suffix):
    path, fmt, options = CASES[case]
    path = retail if path == "RETAIL" else path
    if options.get("audiences") == "RULES":
        (tmp_path / "rules.yaml").write_text(RULES)
        options = {**options, "audiences": tmp_path / "rules.yaml"}
    cli_out, api_out = tmp_path / f"cli{suffix}", tmp_path / f"api{suffix}"
    flags = [a for name, value in options.items() for a in (f"--{name.replace('_', '-')}", value)]
    proc = rfm_stream("batch", path, "--format", fmt, *flags, "--out", cli_out)

    scored = score_file(path, fmt, **options)
    write_table(scored.table, str(api_out))
    assert api_out.read_bytes() == cli_out.read_bytes()
    assert skipped_lines(proc.stderr) == [f"skipped {n:,} {why}" for why, n in scored.skipped.items()]
    if "audiences" in options:
        assert scored.rules.names == ("big_spenders",)


def test_the_customers_frame_keeps_the_exact_inputs_behind_the_table(retail):
    scored = score_file(retail, "online-retail")
    assert set(scored.table.columns) < set(scored.customers.columns)
    row = scored.customers.set_index("customer_id").loc["13047"]
    assert (row["monetary_cents"], row["monetary"]) == (1110 - 370, "7.40")  # the return is netted, exactly
    assert scored.skipped == {"lines without a customer id": 1}


def test_the_options_reach_the_scores(retail):
    """The command calls score_file too, so the comparisons above cannot see an option dropped on the way."""
    first = score_file(retail, "online-retail", as_of="2010-12-31").customers.set_index("customer_id")
    value = score_file(retail, "online-retail", ties="value").customers.set_index("customer_id")
    assert (first["frequency"] == 1).all()  # three customers with one order each: a tie
    assert sorted(first["f_score"]) == [1, 3, 5] and set(value["f_score"]) == {1}
    assert first.loc["17850", "recency_days"] == 29  # 2010-12-01 08:26 to 2010-12-31: 29 whole days
    assert value.loc["17850", "recency_days"] == 2  # to the latest event, 2010-12-03 08:28


def test_audience_lists_equal_the_audiences_command(tmp_path, retail):
    proc = rfm_stream("audiences", retail, "--format", "online-retail", "--as-of", "2011-01-01",
                      "--out", tmp_path / "cli")
    scored = score_file(retail, "online-retail", as_of="2011-01-01")
    write_lists(scored.customers, scored.rules, tmp_path / "api")
    names = sorted(p.name for p in (tmp_path / "cli").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "api").iterdir()) and names
    for name in names:
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    assert f"{len(scored.customers):,} customers scored" in proc.stderr


def test_as_of_takes_a_date_a_date_time_or_an_aware_datetime():
    midnight = datetime(2011, 12, 10, tzinfo=timezone.utc)
    assert parse_as_of("2011-12-10") == parse_as_of("2011-12-10T00:00:00Z") == parse_as_of(midnight)
    assert parse_as_of("2011-12-10T01:00:00+01:00") == parse_as_of(midnight.astimezone(timezone(timedelta(hours=1))))
    assert parse_as_of(None) is None and parse_as_of("") is None


@pytest.mark.parametrize("as_of,reason", [
    ("2011-13-01", "as_of: month must be in 1..12"),
    ("yesterday", "as_of: not an RFC 3339 date-time"),
    (datetime(2011, 12, 10), "as_of: date-time without an offset"),
])
def test_a_bad_as_of_is_one_line_naming_the_argument(retail, as_of, reason):
    with pytest.raises(BadInput) as caught:
        score_file(retail, "online-retail", as_of=as_of)
    assert str(caught.value).startswith(reason) and "\n" not in str(caught.value)


@pytest.mark.parametrize("kwargs,reason", [
    ({"format": "csv"}, "format must be one of"),
    ({"format": "events", "ties": "random"}, "ties must be one of"),
])
def test_an_unknown_format_or_ties_policy_is_a_value_error(retail, kwargs, reason):
    with pytest.raises(ValueError, match=reason):
        score_file(retail, **kwargs)


@pytest.mark.parametrize("name,fmt", [("online_retail.csv.gz", "online-retail"), ("flo_data_20k.csv.gz", "flo")])
def test_score_file_on_a_real_dataset_equals_batch(tmp_path, name, fmt):
    cli_out, api_out = tmp_path / "cli.csv", tmp_path / "api.csv"
    proc = rfm_stream("batch", DATA / name, "--format", fmt, "--out", cli_out)
    scored = score_file(DATA / name, fmt)
    write_table(scored.table, str(api_out))
    assert api_out.read_bytes() == cli_out.read_bytes()
    assert skipped_lines(proc.stderr) == [f"skipped {n:,} {why}" for why, n in scored.skipped.items()]
    assert f"scored {len(scored.customers):,} customers" in proc.stderr
