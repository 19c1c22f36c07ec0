"""`rfm-stream audiences --out DIR`: the folder changes whole or not at all, and only when it holds audience lists."""

import errno

import pytest

from stream_app.audiences import folder
from stream_app.cli import main

RETAIL = ("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
          "536365,1,X,1,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
          "536366,1,X,2,2010-12-02 08:26:00,5.55,17851,United Kingdom\n")


def rule_file(tmp_path, *names):
    path = tmp_path / f"rules-{'-'.join(names)}.yaml"
    path.write_text("audiences:\n" + "".join(
        f"  - name: {n}\n    all:\n      - {{field: frequency, op: gte, value: 1}}\n" for n in names))
    return path


def run(tmp_path, capsys, out, *names):
    data = tmp_path / "retail.csv"
    data.write_text(RETAIL)
    capsys.readouterr()
    status = main(["audiences", str(data), "--format", "online-retail", "--out", str(out),
                   "--audiences", str(rule_file(tmp_path, *names))])
    return status, capsys.readouterr().err


def listing(path):
    return sorted(p.name for p in path.iterdir())


def one_line(err):
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_new_rule_set_replaces_the_lists_of_the_previous_one(tmp_path, capsys):
    out = tmp_path / "lists"
    assert run(tmp_path, capsys, out, "a1", "a2")[0] == 0
    assert listing(out) == ["a1.csv", "a2.csv"]
    assert run(tmp_path, capsys, out, "a3")[0] == 0
    assert listing(out) == ["a3.csv"]
    assert (out / "a3.csv").read_text() == "customer_id\n17850\n17851\n"
    assert listing(tmp_path) == ["lists", "retail.csv", "rules-a1-a2.yaml", "rules-a3.yaml"]  # no temporary folders


def test_a_failure_on_the_second_list_leaves_the_previous_folder(tmp_path, capsys, monkeypatch):
    out = tmp_path / "lists"
    assert run(tmp_path, capsys, out, "old")[0] == 0
    before = (out / "old.csv").read_bytes()
    real_write = folder._write

    def write(path, content):
        if path.name == "a2.csv":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, content)

    monkeypatch.setattr(folder, "_write", write)
    status, err = run(tmp_path, capsys, out, "a1", "a2", "a3")
    assert status == 2
    one_line(err)
    assert err == f"error: {out}: cannot write the audience lists: No space left on device\n"
    assert listing(out) == ["old.csv"] and (out / "old.csv").read_bytes() == before
    assert listing(tmp_path) == ["lists", "retail.csv", "rules-a1-a2-a3.yaml", "rules-old.yaml"]


def test_a_failed_swap_puts_the_previous_folder_back(tmp_path, capsys, monkeypatch):
    out = tmp_path / "lists"
    assert run(tmp_path, capsys, out, "old")[0] == 0
    real_replace = folder.os.replace

    def replace(src, dst):
        if str(src).endswith(".new"):
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(folder.os, "replace", replace)
    status, err = run(tmp_path, capsys, out, "new")
    assert status == 2
    one_line(err)
    assert listing(out) == ["old.csv"]
    assert listing(tmp_path) == ["lists", "retail.csv", "rules-new.yaml", "rules-old.yaml"]


@pytest.mark.parametrize("case", ["a_file", "a_folder_of_other_files", "a_folder_with_a_subfolder", "under_a_file",
                                  "a_csv_that_is_not_a_list"])
def test_an_out_that_is_not_a_lists_folder_is_refused_and_left_alone(case, tmp_path, capsys):
    out = tmp_path / "target"
    if case == "a_file":
        out.write_text("precious\n")
        expected = "exists and is not a folder"
    elif case == "under_a_file":
        (tmp_path / "file").write_text("precious\n")
        out = tmp_path / "file" / "lists"
        expected = f"cannot create the folder: {tmp_path / 'file'} is not a folder"
    else:
        out.mkdir()
        (out / "a1.csv").write_text("customer_id\n1\n")
        if case == "a_folder_of_other_files":
            (out / "notes.txt").write_text("precious\n")
        elif case == "a_folder_with_a_subfolder":
            (out / "photos").mkdir()
        else:
            (out / "sales.csv").write_text("date,amount\n")
        expected = "which is not an audience list"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    status, err = run(tmp_path, capsys, out, "a1")
    assert status == 2
    one_line(err)
    assert err.startswith(f"error: {out}: ") and expected in err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*")
             if p.is_file() and not p.name.startswith("rules-") and p.name != "retail.csv"}
    assert after == before


def test_a_symbolic_link_to_the_folder_keeps_naming_the_new_lists(tmp_path, capsys):
    real = tmp_path / "real"
    link = tmp_path / "link"
    assert run(tmp_path, capsys, real, "a1")[0] == 0
    link.symlink_to(real, target_is_directory=True)
    assert run(tmp_path, capsys, link, "a2")[0] == 0
    assert link.is_symlink() and listing(link) == ["a2.csv"] and listing(real) == ["a2.csv"]
