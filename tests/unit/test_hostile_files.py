"""Hostile files: every bad input is one `error: FILE, line N, field F: reason` line, exit 2, nothing written.

Each case is a small file generated in tmp_path and run through the command
line as a user runs it. The exact line is asserted, so a reason that drifts
from the worker's (core/validate.py) or a line number that is off fails here.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_app.cli import main

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
RETAIL_OK = "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom"
FLO_HEADER = ("master_id,order_channel,last_order_channel,first_order_date,last_order_date,last_order_date_online,"
              "last_order_date_offline,order_num_total_ever_online,order_num_total_ever_offline,"
              "customer_value_total_ever_offline,customer_value_total_ever_online,interested_in_categories_12")
ID_PATTERN = "customer_id must match pattern ^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"


def flo_row(cid="abc", first="2020-10-30", last="2021-02-26", online="4.0", offline="1.0", v_off="139.99",
            v_on="799.38", cats="[KADIN]") -> str:
    return f"{cid},Android App,Offline,{first},{last},2021-02-21,2021-02-26,{online},{offline},{v_off},{v_on},{cats}"


def order(**over) -> str:
    event = {"type": "order", "customer_id": "1", "occurred_at": "2011-01-01T00:00:00Z", "order_id": "a", "amount": 1}
    event.update(over)
    return json.dumps(event, ensure_ascii=False)


def write(path: Path, text: str | bytes) -> Path:
    if path.suffix == ".gz" and isinstance(text, str):
        path.write_bytes(gzip.compress(text.encode()))
    elif isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refused(capsys, tmp_path: Path, *args: str, out: Path | None = None) -> str:
    """Run the CLI, expect exit 2 and one clean error line, nothing written; return the line after 'error: '."""
    out = out or tmp_path / "out.csv"
    before = {p.name for p in tmp_path.iterdir()}
    assert main([*args, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert {p.name for p in tmp_path.iterdir()} == before  # no output, no temporary file left behind
    return lines[0].removeprefix("error: ")


RETAIL_CASES = {
    # the batch used to give silently wrong answers on these
    "nan price on a return": (["C536366,1,X,-1,2010-12-01 08:26:00,nan,17850,UK"],
                              "line 3, field 'UnitPrice': not a number: nan"),
    "1e308 price": (["536366,1,X,-1,2010-12-01 08:26:00,1e308,17850,UK"],
                    "line 3, field 'UnitPrice': beyond the amount limit of 1,000,000,000: 1e+308"),
    "5e12 price": (["536366,1,X,1,2010-12-01 08:26:00,5e12,17850,UK"],
                   "line 3, field 'UnitPrice': beyond the amount limit of 1,000,000,000: 5000000000000.0"),
    "quantity x price beyond int64": (["536366,1,X,1000000000000,2010-12-01 08:26:00,999999,17850,UK"],
                                      "line 3, field 'Quantity': quantity x unit price is beyond the amount limit "
                                      "of 1,000,000,000: 1000000000000"),
    "invoice total over the limit": (["536366,1,X,1000,2010-12-01 08:26:00,999999,17850,UK"] * 2,
                                     "line 3, field 'UnitPrice': amount must be smaller than or equal to 1000000000"),
    "year 9999": (["536366,1,X,1,9999-12-01 08:26:00,1,17850,UK"], "line 3, field 'InvoiceDate': is in the future"),
    "year 1": (["536366,1,X,1,0001-01-01 00:00:00,1,17850,UK"],
               "line 3, field 'InvoiceDate': is before 1900-01-01T00:00:00Z"),
    "Arabic-Indic digits": (["536366,1,X,1,2010-12-01 08:26:00,1,\u0661\u0662\u0663,UK"],
                            "line 3, field 'CustomerID': unknown customer id format (expected an integer): '١٢٣'"),
    "full-width digits": (["536366,1,X,1,2010-12-01 08:26:00,1,\uff11\uff12,UK"],
                          "line 3, field 'CustomerID': unknown customer id format (expected an integer): '１２'"),
    "200-digit id": ([f"536366,1,X,1,2010-12-01 08:26:00,1,{'7' * 200},UK"], f"line 3, field 'CustomerID': {ID_PATTERN}"),
    # tracebacks or errors without a line before
    "a time with a zone": (["536366,1,X,1,2010-12-01 08:26:00+01:00,1,17850,UK"],
                           "line 3, field 'InvoiceDate': a time with a zone; the file's times are UTC, written without "
                           "one: '2010-12-01 08:26:00+01:00'"),
    "a row with a cell missing": (["536366,1,X,1,2010-12-01 08:26:00,1,17850"], "line 3: 7 cells where the header has 8"),
    "a row with a cell too many": (["536366,1,X,1,2010-12-01 08:26:00,1,17850,UK,extra"],
                                   "line 3: 9 cells where the header has 8"),
    "after a quoted multi-line field": (['536366,1,"two\nlines",1,2010-12-01 08:26:00,1,17850,UK',
                                         "536367,1,X,1,2010-12-01 08:26:00,abc,17850,UK"],
                                        "line 5, field 'UnitPrice': not a number: 'abc'"),
    "quantity beyond int64": (["536366,1,X,99999999999999999999,2010-12-01 08:26:00,1,17850,UK"],
                              "line 3, field 'Quantity': quantity out of range: '99999999999999999999'"),
}


@pytest.mark.parametrize("command", ["batch", "events"])  # events never writes what --format events refuses
@pytest.mark.parametrize("case", RETAIL_CASES)
def test_hostile_retail_rows(tmp_path, capsys, case, command):
    rows, expect = RETAIL_CASES[case]
    src = write(tmp_path / "retail.csv", "\n".join([RETAIL_HEADER, RETAIL_OK, *rows]) + "\n")
    assert refused(capsys, tmp_path, command, str(src), "--format", "online-retail") == f"{src}, {expect}"


def test_latin1_byte_names_its_line_and_column(tmp_path, capsys):
    src = write(tmp_path / "retail.csv", f"{RETAIL_HEADER}\n{RETAIL_OK}\n".encode() +
                "536366,1,X,1,2010-12-01 08:26:00,1,17850,Espa\u00f1a\n".encode("latin-1"))
    assert refused(capsys, tmp_path, "batch", str(src), "--format", "online-retail") == (
        f"{src}, line 3, field 'Country': not UTF-8 text: byte 0xf1 at position 46 of the line (save the file as UTF-8)")


FLO_CASES = {
    "orders 1e19": (flo_row(online="1e19"),
                    "field 'order_num_total_ever_online': beyond the order count limit of 10,000,000: '1e19'"),
    "orders 1e308": (flo_row(offline="1e308"),
                     "field 'order_num_total_ever_offline': beyond the order count limit of 10,000,000: '1e308'"),
    "orders 1e17": (flo_row(online="1e17"),
                    "field 'order_num_total_ever_online': beyond the order count limit of 10,000,000: '1e17'"),
    "value 1e17": (flo_row(v_on="1e17"),
                   "field 'customer_value_total_ever_online': beyond the amount limit of 1,000,000,000: '1e17'"),
    "orders adding up past the limit": (flo_row(online="6000000", offline="6000000"),
                                        "field 'order_num_total_ever_online + order_num_total_ever_offline': "
                                        "orders must be smaller than or equal to 10000000"),
    "year 1": (flo_row(first="0001-01-01"), "field 'first_order_date': is before 1900-01-01T00:00:00Z"),
    "year 9999": (flo_row(last="9999-12-31"), "field 'last_order_date': is in the future"),
    "full-width id": (flo_row(cid="\uff11\uff12"), f"field 'master_id': {ID_PATTERN}"),
    "a 1.1 MB category": (flo_row(cats="[" + "K" * 1_100_000 + "]"),
                          "field 'interested_in_categories_12': categories[0] must be shorter than or equal to 64 characters"),
    "nan value": (flo_row(v_off="nan"), "field 'customer_value_total_ever_offline': not a number: 'nan'"),
    "a ragged row": (flo_row().rsplit(",", 1)[0], "11 cells where the header has 12"),
}


@pytest.mark.parametrize("command", ["batch", "events"])
@pytest.mark.parametrize("case", FLO_CASES)
def test_hostile_flo_rows(tmp_path, capsys, case, command):
    row, expect = FLO_CASES[case]
    src = write(tmp_path / "flo.csv", "\n".join([FLO_HEADER, flo_row(cid="ok1"), row]) + "\n")
    assert refused(capsys, tmp_path, command, str(src), "--format", "flo") == f"{src}, line 3: {expect}".replace(
        "line 3: field", "line 3, field")


EVENT_CASES = {
    "year 1 at +01:00": ("e.jsonl", order(occurred_at="0001-01-01T00:00:00+01:00"),
                         "line 2, field 'occurred_at': is before 1900-01-01T00:00:00Z"),
    "year 9999": ("e.jsonl", order(occurred_at="9999-12-31T00:00:00Z"), "line 2, field 'occurred_at': is in the future"),
    "Arabic-Indic id": ("e.jsonl", order(customer_id="\u0661\u0662"), f"line 2, field 'customer_id': {ID_PATTERN}"),
    "200-digit id": ("e.jsonl", order(customer_id="7" * 200), f"line 2, field 'customer_id': {ID_PATTERN}"),
    "amount over 1e9": ("e.jsonl", order(amount=1e9 + 1),
                        "line 2, field 'amount': amount must be smaller than or equal to 1000000000"),
    "nan amount in a CSV": ("e.csv", "order,1,2011-01-01T00:00:00Z,b,nan",
                            "line 3, field 'amount': not a finite number: nan"),
    "ragged CSV row": ("e.csv", "order,1,2011-01-01T00:00:00Z,b", "line 3: 4 cells where the header has 5"),
}


@pytest.mark.parametrize("case", EVENT_CASES)
def test_hostile_events(tmp_path, capsys, case):
    name, line, expect = EVENT_CASES[case]
    first = order() if name.endswith(".jsonl") else "type,customer_id,occurred_at,order_id,amount\norder,1,2011-01-01T00:00:00Z,a,1"
    src = write(tmp_path / name, f"{first}\n{line}\n")
    assert refused(capsys, tmp_path, "batch", str(src), "--format", "events") == f"{src}, {expect}"


@pytest.mark.parametrize("raw", ["caf\u00e9".encode("latin-1"), b"\xff\xfe"])
def test_events_not_utf8(tmp_path, capsys, raw):
    line = order(order_id="X").encode()
    at = line.index(b"X") + next(i for i, b in enumerate(raw) if b > 0x7F)
    src = write(tmp_path / "e.jsonl", order().encode() + b"\n" + line.replace(b"X", raw) + b"\n")
    assert refused(capsys, tmp_path, "batch", str(src), "--format", "events") == (
        f"{src}, line 2: not UTF-8 text: byte 0x{line.replace(b'X', raw)[at]:02x} at position {at + 1} of the line "
        "(save the file as UTF-8)")


@pytest.mark.parametrize("fmt,name,content,expect", [
    ("online-retail", "r.csv.gz", gzip.compress(f"{RETAIL_HEADER}\n{RETAIL_OK}\n".encode() * 50, mtime=0)[:60],
     "line 1: corrupt or truncated gzip data: Compressed file ended before the end-of-stream marker was reached"),
    ("online-retail", "r.csv.gz", b"garbage, not gzip\n", "not a gzip file, although its name ends in .gz"),
    ("flo", "f.csv.gz", b"\x1f\x8b" + b"\x00" * 40, "line 1: corrupt or truncated gzip data: "),
    ("events", "e.jsonl.gz", (order() + "\n").encode(), "not a gzip file, although its name ends in .gz"),
    ("events", "e.jsonl.gz", gzip.compress((order() + "\n").encode() * 5000, mtime=0)[:-30],
     "corrupt or truncated gzip data: Compressed file ended before the end-of-stream marker was reached"),
], ids=["retail-truncated", "retail-not-gzip", "flo-zeroed", "events-not-gzip", "events-truncated"])
def test_broken_gzip(tmp_path, capsys, fmt, name, content, expect):
    src = write(tmp_path / name, content)
    got = refused(capsys, tmp_path, "batch", str(src), "--format", fmt)
    assert got.startswith(f"{src}") and expect in got, got


@pytest.mark.parametrize("fmt", ["online-retail", "flo", "events"])
def test_directory_as_input(tmp_path, capsys, fmt):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    assert refused(capsys, tmp_path, "batch", str(folder), "--format", fmt) == f"{folder}: is a directory, not a file"


# --- outputs -------------------------------------------------------------------------------------------------


@pytest.fixture
def retail(tmp_path) -> Path:
    return write(tmp_path / "retail.csv", f"{RETAIL_HEADER}\n{RETAIL_OK}\n")


@pytest.mark.parametrize("command", ["batch", "events"])
def test_out_equal_to_the_input_is_refused(tmp_path, capsys, retail, command):
    before = retail.read_text()
    assert refused(capsys, tmp_path, command, str(retail), "--format", "online-retail", out=retail) == (
        f"{retail}: is the input {retail}; write the result to another file")
    link = tmp_path / "link.csv"
    link.symlink_to(retail)
    assert refused(capsys, tmp_path, command, str(retail), "--format", "online-retail", out=link) == (
        f"{link}: is the input {retail}; write the result to another file")
    assert retail.read_text() == before


def test_out_an_existing_directory(tmp_path, capsys, retail):
    folder = tmp_path / "scores.csv"
    folder.mkdir()
    assert refused(capsys, tmp_path, "batch", str(retail), "--format", "online-retail", out=folder) == (
        f"{folder}: is a directory; give a file name")


def test_out_in_a_read_only_folder(tmp_path, capsys, retail):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if _can_create_in(folder):  # root ignores the mode bits; a read-only file system (/sys) stops it too
            folder = Path("/sys")
            if _can_create_in(folder):
                pytest.skip("no read-only folder available to this user")
        out = folder / "scores.csv"
        got = refused(capsys, tmp_path, "batch", str(retail), "--format", "online-retail", out=out)
        assert got in (f"{out}: cannot write in {folder}: permission denied", f"{out}: cannot write: permission denied",
                       f"{out}: cannot write: read-only file system"), got
        assert not out.exists()
    finally:
        (tmp_path / "ro").chmod(0o755)


def _can_create_in(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_symlink_out_writes_through_to_its_target(tmp_path, retail):
    target = tmp_path / "real" / "scores.csv"
    target.parent.mkdir()
    link = tmp_path / "scores.csv"
    link.symlink_to(target)
    assert main(["batch", str(retail), "--format", "online-retail", "--out", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("customer_id,")
    assert [p.name for p in target.parent.iterdir()] == ["scores.csv"]


def test_a_named_pipe_stays_a_pipe(tmp_path, retail):
    """A device or a pipe (/dev/null) is written into, never replaced by a renamed file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert main(["batch", str(retail), "--format", "online-retail", "--out", str(fifo)]) == 0
    reader.join(timeout=30)
    assert fifo.is_fifo() and got and got[0].startswith(b"customer_id,")


# --- what events writes, --format events reads back ----------------------------------------------------------


def test_events_output_reads_back_and_scores_the_same(tmp_path):
    retail = write(tmp_path / "r.csv", "\n".join([
        RETAIL_HEADER, RETAIL_OK,
        "536366,1,X,1000,1901-01-01 00:00:00,999999.99,7,UK",  # the largest amount, the earliest century
        "C536367,1,X,-1,2010-12-02 08:26:00,0.000001,17850,UK",
    ]) + "\n")
    flo = write(tmp_path / "f.csv", "\n".join([FLO_HEADER, flo_row(), flo_row(cid="b", v_on="999999860.01",
                                                                            cats='"[' + ", ".join("C" * 64 for _ in range(64)) + ']"')]) + "\n")
    for src, fmt in ((retail, "online-retail"), (flo, "flo")):
        events, direct, again = tmp_path / f"{fmt}.jsonl", tmp_path / f"{fmt}.a.csv", tmp_path / f"{fmt}.b.csv"
        assert main(["events", str(src), "--format", fmt, "--out", str(events)]) == 0
        assert main(["batch", str(src), "--format", fmt, "--out", str(direct)]) == 0
        assert main(["batch", str(events), "--format", "events", "--out", str(again)]) == 0
        assert direct.read_text() == again.read_text()


# --- nothing but the one-line error, whatever the rows --------------------------------------------------------

cells = {
    "invoice": st.sampled_from(["536365", "C536365", "", "A1", "5" * 200]),
    "quantity": st.sampled_from(["6", "-2", "0", "1e3", "x", "", "99999999999999999999", "1.5", "nan"]),
    "date": st.sampled_from(["2010-12-01 08:26:00", "12/1/2010 8:26", "0001-01-01 00:00:00", "9999-12-31 23:59:59",
                             "2010-12-01T08:26:00Z", "2010-02-30 00:00:00", "", "yesterday"]),
    "price": st.sampled_from(["2.55", "-1", "0", "nan", "inf", "-inf", "1e308", "5e12", "1e-7", "999999999.999999",
                              "0.0000001", ""]),
    "customer": st.sampled_from(["17850", "", "0", "١٢", "１２", "17850.0", "7" * 70, " 42 ", "-1"]),
    "country": st.text(max_size=3) | st.sampled_from(["United Kingdom", "X" * 70, 'a"b', "a,b"]),
}
retail_rows = st.lists(st.fixed_dictionaries(cells), min_size=1, max_size=6)


def _cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=retail_rows)
def test_random_retail_rows_give_a_table_or_one_error_line(tmp_path, capsys, rows):
    src = tmp_path / "fuzz.csv"
    src.write_text("\n".join([RETAIL_HEADER] + [
        ",".join(_cell(c) for c in (r["invoice"], "1", "X", r["quantity"], r["date"], r["price"], r["customer"],
                                    r["country"])) for r in rows]) + "\n", encoding="utf-8")
    out = tmp_path / "fuzz.out.csv"
    out.unlink(missing_ok=True)
    code = main(["batch", str(src), "--format", "online-retail", "--out", str(out)])
    err = capsys.readouterr().err
    if code == 0:
        assert out.read_text().startswith("customer_id,")
    else:
        assert code == 2 and not out.exists()
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith(f"error: {src}"), err


event_values = {
    "type": st.sampled_from(["order", "return", "snapshot", "x"]),
    "customer_id": st.sampled_from(["17850", "a" * 65, "١٢", "", 7]) | st.text(max_size=4),
    "occurred_at": st.sampled_from(["2011-01-04T10:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z",
                                    "2011-02-30T00:00:00Z", "2011-01-04", 5]),
    "order_id": st.sampled_from(["a", "", "x" * 129, None]),
    "amount": st.sampled_from([0, 1.5, -1, 1e9, 1e9 + 0.01, -1e308, 10**30, "1", None]),
    "orders": st.sampled_from([0, 10**7, 10**7 + 1, -1, 1.5, 10**19]),
    "monetary": st.sampled_from([0, 12.34, 1e9 + 1, -5]),
    "first_order_at": st.sampled_from(["2010-01-01T00:00:00Z", "1899-01-01T00:00:00Z", "x"]),
    "last_order_at": st.sampled_from(["2011-01-01T00:00:00Z", "2012-01-01T00:00:00Z"]),
    "categories": st.sampled_from([[], ["A"], [""], ["x" * 65], ["a"] * 65, "A"]),
    "currency": st.sampled_from(["GBP", "gbp", 1]),
}


def _events_file(objs: list[dict], as_csv: bool) -> tuple[str, str]:
    if as_csv:
        keys = sorted(event_values)
        return "fuzz.csv", "\n".join([",".join(keys)] + [",".join(
            _cell("" if o.get(k) is None else json.dumps(o[k]) if isinstance(o[k], list) else str(o[k])) for k in keys)
            for o in objs]) + "\n"
    return "fuzz.jsonl", "\n".join(json.dumps(o, ensure_ascii=False) for o in objs) + "\n"


flo_cells = {
    "cid": st.sampled_from(["abc", "ab/cd", "１２", "a" * 65, "", "x y"]),
    "first": st.sampled_from(["2020-10-30", "0001-01-01", "2021-02-27", "2020-02-30", "", "x"]),
    "last": st.sampled_from(["2021-02-26", "9999-12-31", "2021-02-26T10:00:00+03:00"]),
    "online": st.sampled_from(["4.0", "1e19", "1e308", "-1", "1.5", "nan", "", "10000000"]),
    "offline": st.sampled_from(["1.0", "1e17", "inf", "0"]),
    "v_off": st.sampled_from(["139.99", "1e17", "-0.01", "0.001", "nan", "999999999.99"]),
    "v_on": st.sampled_from(["799.38", "1e308", "0.01"]),
    "cats": st.sampled_from(["[KADIN]", "[]", "", "KADIN", "[,]", "['']", '"[A, B]"', "[" + "K" * 70 + "]"]),
}


def _flo_file(rows: list[dict]) -> tuple[str, str]:
    return "fuzz.csv", "\n".join([FLO_HEADER] + [flo_row(**r) for r in rows]) + "\n"


event_files = st.builds(_events_file, st.lists(st.fixed_dictionaries({}, optional=event_values), min_size=1, max_size=5),
                        st.booleans())
flo_files = st.builds(_flo_file, st.lists(st.fixed_dictionaries(flo_cells), min_size=1, max_size=4))
#: format -> (random files as (name, text), what follows the file name in an error line: events name the line)
RANDOM_FILES = {"events": (event_files, ", line "), "flo": (flo_files, "")}


@pytest.mark.parametrize("fmt", sorted(RANDOM_FILES))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_files_give_a_table_or_one_error_line(tmp_path, capsys, fmt, data):
    files, after_name = RANDOM_FILES[fmt]
    name, text = data.draw(files, label="file")
    src = tmp_path / name
    src.write_text(text, encoding="utf-8")
    out = tmp_path / "fuzz.out.csv"
    out.unlink(missing_ok=True)
    code = main(["batch", str(src), "--format", fmt, "--out", str(out)])
    err = capsys.readouterr().err
    assert code in (0, 2) and (code == 0) == out.exists()
    if code == 2:
        assert err.count("error: ") == 1 and len(err.splitlines()) == 1, err
        assert err.startswith(f"error: {src}{after_name}"), err


@pytest.mark.parametrize("us,text", [(-62_135_596_800_000_000, "0001-01-01T00:00:00Z"),
                                     (-2_208_988_800_000_001, "1899-12-31T23:59:59.999999Z")])
def test_times_always_format_with_four_digit_years(us, text):
    from stream_app.core.timeutil import format_us, parse_rfc3339

    assert format_us(us) == text and parse_rfc3339(text) == us
