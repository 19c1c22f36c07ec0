"""`rfm-stream batch` and `events` from the command line: outputs, and bad input stopping cleanly."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from stream_app.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
GOOD = [
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom",
    "536366,22633,HAND WARMER,6,2010-12-02 08:28:00,1.85,13047,United Kingdom",
    "536367,22633,NO CUSTOMER,6,2010-12-02 08:28:00,1.85,,United Kingdom",
    "C536368,22633,HAND WARMER,-2,2010-12-03 08:28:00,1.85,13047,United Kingdom",
]


def retail_file(tmp_path, rows, header=HEADER):
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([header] + rows) + "\n")
    return path


def run(*args):
    return main([str(a) for a in args])


def test_batch_writes_sorted_rows_with_exact_money(tmp_path):
    out = tmp_path / "scores.csv"
    assert run("batch", retail_file(tmp_path, GOOD), "--format", "online-retail", "--out", out) == 0
    df = pd.read_csv(out, dtype={"customer_id": str, "monetary": str, "aov": str, "rfm_score": str})
    assert df["customer_id"].tolist() == ["13047", "17850"]
    assert df.set_index("customer_id").loc["17850", "monetary"] == "35.64"
    assert df.set_index("customer_id").loc["13047", "monetary"] == "7.40"


def test_batch_json_output_and_as_of(tmp_path):
    out = tmp_path / "scores.json"
    assert run("batch", retail_file(tmp_path, GOOD), "--format", "online-retail", "--as-of", "2010-12-11", "--out", out) == 0
    rows = {r["customer_id"]: r for r in json.loads(out.read_text())}
    assert rows["17850"]["recency_days"] == 9  # 9 days 15 h 34 min: whole days, floored


def test_batch_to_stdout(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "stream_app.cli", "batch", str(retail_file(tmp_path, GOOD)),
                           "--format", "online-retail", "--out", "-"], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[0].startswith("customer_id,recency_days,frequency")
    assert "skipped 1 lines without a customer id" in proc.stderr


def test_events_then_batch_on_events_gives_the_same_table(tmp_path):
    src = retail_file(tmp_path, GOOD)
    events, a, b = tmp_path / "e.jsonl", tmp_path / "a.csv", tmp_path / "b.csv"
    assert run("events", src, "--format", "online-retail", "--out", events) == 0
    lines = events.read_text().splitlines()
    assert [json.loads(line)["order_id"] for line in lines] == ["536365", "536366", "C536368"]
    assert run("batch", src, "--format", "online-retail", "--out", a) == 0
    assert run("batch", events, "--format", "events", "--out", b) == 0
    assert a.read_text() == b.read_text()


def test_events_csv_reads_like_jsonl(tmp_path):
    csv_path = tmp_path / "e.csv"
    csv_path.write_text("type,customer_id,occurred_at,order_id,amount,categories\n"
                        "order,1,2011-01-01T00:00:00Z,a,10.50,A;B\n"
                        "return,1,2011-01-02T00:00:00Z,b,-0.50,\n")
    out = tmp_path / "o.csv"
    assert run("batch", csv_path, "--format", "events", "--out", out) == 0
    assert pd.read_csv(out, dtype=str).loc[0, "monetary"] == "10.00"


@pytest.mark.parametrize(
    "rows,header,expect",
    [
        (GOOD, HEADER.replace("CustomerID", "Client"), "line 1, field 'CustomerID': missing column"),
        (GOOD[:2] + ["536366,1,X,6,2010-13-45 08:28:00,1.85,13047,UK"], HEADER, "line 4, field 'InvoiceDate': not a date-time"),
        (GOOD[:1] + ["536366,1,X,six,2010-12-02 08:28:00,1.85,13047,UK"], HEADER, "line 3, field 'Quantity': not a number"),
        (GOOD[:1] + ["536366,1,X,6,2010-12-02 08:28:00,abc,13047,UK"], HEADER, "line 3, field 'UnitPrice': not a number"),
        (GOOD[:1] + ["536366,1,X,6,2010-12-02 08:28:00,1.0,ABC-1,UK"], HEADER, "line 3, field 'CustomerID': unknown customer id format"),
    ],
)
def test_bad_retail_input_names_file_line_and_field(tmp_path, capsys, rows, header, expect):
    src = retail_file(tmp_path, rows, header)
    out = tmp_path / "out.csv"
    out.write_text("previous result\n")
    assert run("batch", src, "--format", "online-retail", "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {src}, ") and expect in err, err
    assert out.read_text() == "previous result\n"  # nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_event_names_line_and_field(tmp_path, capsys):
    src = tmp_path / "events.jsonl"
    good = (FIXTURES / "events_valid.jsonl").read_text().splitlines()
    src.write_text("\n".join(good[:2] + ['{"type":"order","customer_id":"1","occurred_at":"2011-01-01T00:00:00Z","order_id":"1","amount":"12"}']) + "\n")
    out = tmp_path / "out.csv"
    assert run("batch", src, "--format", "events", "--out", out) == 2
    err = capsys.readouterr().err
    assert f"{src}, line 3, field 'amount'" in err
    assert not out.exists()


def test_malformed_json_line(tmp_path, capsys):
    src = tmp_path / "events.jsonl"
    src.write_text('{"type": "order"\n')
    assert run("batch", src, "--format", "events", "--out", tmp_path / "o.csv") == 2
    assert "line 1: malformed JSON" in capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    assert run("batch", tmp_path / "nope.csv", "--format", "online-retail", "--out", tmp_path / "o.csv") == 2
    assert "no such file" in capsys.readouterr().err


def flo_file(tmp_path, row: str):
    """A one-customer FLO file (the real file's header) with this row."""
    src = tmp_path / "flo.csv"
    header = ("master_id,order_channel,last_order_channel,first_order_date,last_order_date,last_order_date_online,"
              "last_order_date_offline,order_num_total_ever_online,order_num_total_ever_offline,"
              "customer_value_total_ever_offline,customer_value_total_ever_online,interested_in_categories_12")
    src.write_text(header + "\n" + row + "\n")
    return src


def test_flo_bad_count(tmp_path, capsys):
    src = flo_file(tmp_path, "abc,Android App,Offline,2020-10-30,2021-02-26,2021-02-21,2021-02-26,many,1.0,139.99,799.38,[KADIN]")
    assert run("batch", src, "--format", "flo", "--out", tmp_path / "o.csv") == 2
    assert "line 2, field 'order_num_total_ever_online': not a number" in capsys.readouterr().err


def test_core_imports_no_kafka_redis_or_faust():
    code = ("import sys, stream_app.core.fold, stream_app.core.scoring, stream_app.core.validate, stream_app.core.segments, "
            "stream_app.batch; bad = [m for m in sys.modules if m.split('.')[0] in ('faust', 'kafka', 'aiokafka', 'redis', 'mode')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_output_gets_an_ordinary_files_mode(tmp_path):
    import os

    out = tmp_path / "scores.csv"
    assert run("batch", retail_file(tmp_path, GOOD), "--format", "online-retail", "--out", out) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_flo_value_with_more_decimals_than_cents_stops_even_when_large(tmp_path, capsys):
    src = flo_file(tmp_path, "abc,Android App,Offline,2020-10-30,2021-02-26,2021-02-21,2021-02-26,4.0,1.0,139.99,"
                             "45000.125,[KADIN]")
    assert run("batch", src, "--format", "flo", "--out", tmp_path / "o.csv") == 2
    assert "line 2, field 'customer_value_total_ever_online': more than 2 decimals" in capsys.readouterr().err


def test_retail_price_with_more_than_six_decimals_stops(tmp_path, capsys):
    src = retail_file(tmp_path, GOOD[:1] + ["536366,1,X,6,2010-12-02 08:28:00,1.0000001,13047,UK"])
    assert run("batch", src, "--format", "online-retail", "--out", tmp_path / "o.csv") == 2
    assert "line 3, field 'UnitPrice': more than 6 decimals" in capsys.readouterr().err


def test_flo_customer_id_outside_the_schema_pattern_stops(tmp_path, capsys):
    src = flo_file(tmp_path, "ab/cd,Android App,Offline,2020-10-30,2021-02-26,2021-02-21,2021-02-26,4.0,1.0,1.00,"
                             "2.00,[KADIN]")
    assert run("batch", src, "--format", "flo", "--out", tmp_path / "o.csv") == 2
    assert "line 2, field 'master_id': customer_id must match pattern" in capsys.readouterr().err  # the worker's reason
