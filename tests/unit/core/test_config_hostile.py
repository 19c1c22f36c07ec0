"""Hostile rule files and segment maps: each stops the command with one line and exit 2, and nothing is written.

The files are generated here, small; the bombs among them (aliases, nesting)
must be refused from their structure, before anything expands them.
"""

import json

import pytest

from stream_app.audiences import document, rules
from stream_app.cli import main
from stream_app.core import names
from stream_app.core.config_text import MAX_CONFIG_BYTES
from stream_app.core.segments import DEFAULT_SEGMENTS, SegmentMap
from stream_app.core.validate import load_schema
from stream_app.errors import ConfigError

RETAIL = ("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
          "536365,1,X,1,2010-12-01 08:26:00,2.55,17850,United Kingdom\n")
CONDITION = "      - {field: aov_score, op: eq, value: 5}\n"


def audience(name="vip", condition=CONDITION):
    return f"audiences:\n  - name: {name}\n    all:\n{condition}"


def alias_bomb(levels=9):
    """The billion laughs: each level a list of nine aliases of the one before; under 400 bytes."""
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\naudiences: *l{levels - 1}\n"


def aliased_depth(copies=20):
    """Each anchor 30 lists deep around an alias of the one before: shallow as written, 600 deep as built."""
    return "".join(f"l{i}: &l{i} {'[' * 30}{f'*l{i - 1}' if i else 1}{']' * 30}\n" for i in range(copies)) + "audiences: []\n"


RULE_FILES = {  # name -> (bytes of the file, end of the error line after "FILE")
    "integer_of_5000_digits": (audience(condition=f"      - {{field: frequency, op: gt, value: {'9' * 5000}}}\n").encode(),
                               ", line 4: a number longer than 40 characters"),
    "float_of_5000_digits": (audience(condition=f"      - {{field: aov, op: gt, value: {'9' * 5000}.5}}\n").encode(),
                             ", line 4: a number longer than 40 characters"),
    "nesting_5000_deep": (("audiences: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
                          ", line 1: nested deeper than 32 levels"),
    "latin1": (("audiences:\n  - name: vip\n    description: café\n    all:\n" + CONDITION).encode("latin-1"),
               ", line 3: not UTF-8 text (byte 0xe9 at column 21)"),
    "alias_bomb": (alias_bomb().encode(), ", line 6: more than 100,000 values (an alias counts as a copy)"),
    "alias_in_its_own_anchor": (b"a: &a [*a]\naudiences: []\n", ", line 1: an alias refers to a node that contains it"),
    "nesting_through_aliases": (aliased_depth().encode(), ", line 2: nested deeper than 32 levels once aliases are expanded"),
    "too_many_aliases": (("a: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\naudiences: []\n").encode(),
                         ", line 2: more than 100 aliases"),
    "list_as_key": (b"? [a]\n: b\n", ", line 1: a key must be a plain value, not a list or mapping"),
    "impossible_date": (audience(condition="      - {field: channel, op: eq, value: 2001-02-30}\n").encode(),
                        ", line 4: cannot read '2001-02-30': day is out of range for month"),
    "tagged_integer_that_is_not": (audience(condition="      - {field: frequency, op: eq, value: !!int abc}\n").encode(),
                                   ", line 4: cannot read 'abc': invalid literal for int()"),
    "name_with_trailing_newline": (audience(name='"vip\\n"').encode(),
                                   ", line 2: audience 'vip\\n', key 'name': 'vip\\n' is not a valid name (lower-case letters"),
    "name_of_10000_characters": (audience(name="a" * 10_000).encode(),
                                 ", line 2: audience 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... (10,002 characters), key"),
    "integer_beyond_int64": (audience(condition="      - {field: frequency, op: gt, value: 9223372036854775808}\n").encode(),
                             ", line 4: audience 'vip', key 'all[0].value': 9223372036854775808 is outside the range of frequency"),
    "amount_beyond_the_limit": (audience(condition="      - {field: aov, op: gt, value: 1.0e+300}\n").encode(),
                                ", line 4: audience 'vip', key 'all[0].value': aov takes an amount of at most 1,000,000,000,000,000"),
    "larger_than_the_limit": (b"# " + b"x" * MAX_CONFIG_BYTES + b"\n", ": the audience rules file is larger than 262,144 bytes"),
    "toml_nesting_5000_deep": (("a = " + "[" * 5000 + "]" * 5000 + "\n").encode(), ": nested deeper than 32 levels"),
    "toml_integer_of_5000_digits": (("[[audiences]]\nname = 'a'\nall = [{field='frequency', op='gt', value="
                                     + "9" * 5000 + "}]\n").encode(), ", line 3: a number longer than 40 characters"),
}


def run_audiences(tmp_path, capsys, rules_path, env_segments=None, monkeypatch=None):
    data = tmp_path / "retail.csv"
    data.write_text(RETAIL)
    out = tmp_path / "lists"
    capsys.readouterr()
    status = main(["audiences", str(data), "--format", "online-retail", "--out", str(out), "--audiences", str(rules_path)])
    return status, capsys.readouterr(), out


@pytest.mark.parametrize("case", sorted(RULE_FILES))
def test_hostile_rule_file_is_one_line_and_writes_nothing(case, tmp_path, capsys):
    content, expected = RULE_FILES[case]
    path = tmp_path / ("rules.toml" if case.startswith("toml_") else "rules.yaml")
    path.write_bytes(content)
    status, captured, out = run_audiences(tmp_path, capsys, path)
    assert status == 2
    assert captured.err.startswith(f"error: {path}{expected}"), captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert not out.exists() and captured.out == ""


@pytest.mark.parametrize("case", ["alias_bomb", "nesting_5000_deep", "nesting_through_aliases"])
def test_bombs_are_refused_from_their_structure(case, tmp_path):
    """Refused by the bounds of document.py, not by running out of anything (the figures: docs/audiences.md)."""
    with pytest.raises(ConfigError, match="nested deeper|more than"):
        document.decode(RULE_FILES[case][0].decode(), "rules.yaml")


def test_anchors_within_the_limits_still_work(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("common: &big {field: aov_score, op: eq, value: 5}\n"
                    "audiences:\n  - name: a\n    all: [*big]\n  - name: b\n    all: [*big, {field: f_score, op: lte, value: 2}]\n")
    with pytest.raises(ConfigError, match="top level: Additional properties"):  # the anchor's key is not a rule key
        rules.load(path)
    path.write_text("audiences:\n  - name: a\n    all: [&big {field: aov_score, op: eq, value: 5}]\n"
                    "  - name: b\n    all: [*big, {field: f_score, op: lte, value: 2}]\n")
    loaded = rules.load(path)
    assert [a.text() for a in loaded] == ["aov_score = 5", "aov_score = 5 and f_score <= 2"]


def test_the_schema_anchors_the_one_name_pattern():
    schema = load_schema("audiences.schema.json")
    assert schema["$defs"]["audience"]["properties"]["name"]["pattern"] == f"^{names.NAME_PATTERN}$"


@pytest.mark.parametrize("name,valid", [("vip", True), ("a" * 64, True), ("a" * 65, False), ("vip\n", False),
                                        ("Vip", False), ("9vip", False), ("$x$", False), ("", False), (None, False)])
def test_names(name, valid):
    assert names.is_name(name) is valid


# ---------------------------------------------------------------- segment maps (RFM_SEGMENTS)


def segment_map(first_cell):
    grid = json.loads(DEFAULT_SEGMENTS.read_text())
    grid["R1"] = [first_cell] + grid["R1"][1:]
    return json.dumps(grid).encode()


SEGMENT_FILES = {
    "newline": (segment_map("champions\n"), ", field 'R1': F1 'champions\\n' is not a valid segment name ("),
    "10000_characters": (segment_map("a" * 10_000), ", field 'R1': F1 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... (10,002 characters) is not"),
    "math_text": (segment_map("$\\frac{1}{0}$"), ", field 'R1': F1 '$\\\\frac{1}{0}$' is not a valid segment name ("),
    "empty": (segment_map(""), ", field 'R1': F1 '' is not a valid segment name ("),
    "nesting_100000_deep": (b"[" * 100_000 + b"]" * 100_000, ": not a segment map: nested too deep"),
    "integer_of_5000_digits": (b'{"R1": ' + b"9" * 5000 + b"}", ": not a segment map: Exceeds the limit"),
    "latin1": ('{"R1": ["café"]}'.encode("latin-1"), ", line 1: not UTF-8 text (byte 0xe9 at column 13)"),
    "not_json": (b'{\n"R1": [,]}', ", line 2, column 8: not valid JSON: Expecting value"),
}


@pytest.mark.parametrize("case", sorted(SEGMENT_FILES))
def test_hostile_segment_map_is_one_line_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    content, expected = SEGMENT_FILES[case]
    path = tmp_path / "segments.json"
    path.write_bytes(content)
    monkeypatch.setenv("RFM_SEGMENTS", str(path))
    data = tmp_path / "retail.csv"
    data.write_text(RETAIL)
    capsys.readouterr()
    for args in (["audiences", "--out", str(tmp_path / "lists")], ["report", "--out", str(tmp_path / "r.html")]):
        status = main([args[0], str(data), "--format", "online-retail", *args[1:]])
        err = capsys.readouterr().err
        assert status == 2
        assert err.startswith(f"error: {path}{expected}"), err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["retail.csv", "segments.json"]


def test_a_valid_renamed_map_loads(tmp_path):
    path = tmp_path / "segments.json"
    path.write_bytes(segment_map("sleepers_2"))
    assert "sleepers_2" in SegmentMap.load(path).names
