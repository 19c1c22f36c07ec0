"""Audience rule files: what loads, what each operator means, and the one-line error of each bad file."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from stream_app.audiences import rules
from stream_app.cli import main
from stream_app.core.segments import SegmentMap
from stream_app.core.validate import load_schema
from stream_app.errors import ConfigError

SEGMENTS = SegmentMap.load().names
PROFILE = {
    "customer_id": "c1", "segment": "champions", "r_score": 5, "f_score": 2, "m_score": 4, "aov_score": 5,
    "rfm_sum": 11, "value_band": "high", "recency_days": 3, "frequency": 2, "monetary": "500.02",
    "monetary_cents": 50002, "aov": "250.01", "aov_cents": 25001, "channel": "Mobile", "categories": ("KADIN", "ERKEK"),
}


def one(field, op, value):
    """Rules of a single audience 'a' with one condition."""
    return rules.parse({"audiences": [{"name": "a", "all": [{"field": field, "op": op, "value": value}]}]},
                       segment_names=SEGMENTS)


def holds(field, op, value, **changes):
    return one(field, op, value).membership({**PROFILE, **changes}) == ["a"]


def write(tmp_path, text, name="rules.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- the defaults


def test_schema_is_valid_2020_12_and_the_defaults_follow_it():
    schema = load_schema("audiences.schema.json")
    Draft202012Validator.check_schema(schema)
    import yaml

    data = yaml.safe_load(rules.DEFAULT_AUDIENCES.read_text())
    assert not list(Draft202012Validator(schema).iter_errors(data))
    assert set(schema["$defs"]["condition"]["properties"]["field"]["enum"]) == set(rules.FIELDS)
    assert schema["$defs"]["condition"]["properties"]["op"]["enum"] == list(rules.OPERATORS)


def test_default_audiences_read_as_the_issue_states_them():
    texts = {a.name: a.text() for a in rules.load(segment_names=SEGMENTS)}
    assert texts == {
        "vip_high_aov": "aov_score = 5 and f_score <= 2",
        "frequent_buyer_bonus": "f_score >= 4 and aov_score >= 3",
        "reactivation": "value_band = low and aov_score <= 2",
        "flo_womens_new_brand": "segment in {champions, loyal_customers} and aov > 250 and categories contains any of {KADIN}",
        "flo_men_kids_discount": "segment in {cant_lose, about_to_sleep, new_customers} and categories contains any of {ERKEK, COCUK}",
    }


def test_default_membership_of_one_profile():
    assert rules.load().membership(PROFILE) == ["flo_womens_new_brand", "vip_high_aov"]


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize("field,op,value,expected", [
    ("aov_score", "eq", 5, True), ("aov_score", "ne", 5, False), ("f_score", "lte", 2, True), ("f_score", "lt", 2, False),
    ("r_score", "gt", 4, True), ("r_score", "gte", 5, True), ("m_score", "in", [1, 4], True), ("m_score", "not_in", [1, 4], False),
    ("rfm_sum", "gte", 11, True), ("recency_days", "lt", 3, False), ("frequency", "eq", 2, True),
    ("segment", "in", ["champions", "loyal_customers"], True), ("segment", "not_in", ["champions"], False),
    ("value_band", "eq", "high", True), ("value_band", "ne", "low", True), ("channel", "eq", "Mobile", True),
    ("categories", "contains_any", ["COCUK", "KADIN"], True), ("categories", "contains_all", ["COCUK", "KADIN"], False),
    ("categories", "contains_all", ["KADIN", "ERKEK"], True), ("categories", "contains_any", ["COCUK"], False),
])
def test_each_operator(field, op, value, expected):
    assert holds(field, op, value) is expected


def test_money_is_compared_exactly_in_cents():
    # aov is 250.01: one cent above 250
    assert holds("aov", "gt", 250)
    assert not holds("aov", "gt", 250.01)
    assert holds("aov", "gte", 250.01)
    assert holds("aov", "eq", 250.01)
    assert not holds("aov", "eq", 250.005)
    assert holds("aov", "lt", 250.015) and not holds("aov", "lt", 250.005)
    assert not holds("aov", "gt", 250, aov_cents=25000)
    assert holds("monetary", "in", [500.02, 1])
    assert one("aov", "gt", 0.1).audiences[0].items[0][0].value == Decimal("10.0")  # float read via repr: 0.1 is 10 cents


def test_money_from_strings_when_cents_are_absent():
    profile = {k: v for k, v in PROFILE.items() if not k.endswith("_cents")}
    assert one("aov", "gt", 250).membership(profile) == ["a"]
    assert one("aov", "gt", 250).membership({**profile, "aov": "250.00"}) == []


def test_missing_values_satisfy_only_the_negative_operators():
    no_channel = {**PROFILE, "channel": None}
    assert not holds("channel", "eq", "Mobile", channel=None)
    assert not holds("channel", "in", ["Mobile"], channel=None)
    assert holds("channel", "ne", "Mobile", channel=None)
    assert holds("channel", "not_in", ["Mobile"], channel=None)
    assert one("categories", "contains_any", ["KADIN"]).membership({**no_channel, "categories": ()}) == []
    assert one("aov_score", "lte", 5).membership({**PROFILE, "aov_score": None}) == []


def test_profiles_from_redis_strings_and_category_encodings():
    redis_like = {k: str(v) for k, v in PROFILE.items() if k not in ("categories", "monetary_cents", "aov_cents")}
    for cats in ('["KADIN", "ERKEK"]', "KADIN,ERKEK", ["KADIN"]):
        assert rules.load().membership({**redis_like, "categories": cats}) == ["flo_womens_new_brand", "vip_high_aov"]


def test_any_group_holds_when_one_alternative_does():
    r = rules.parse({"audiences": [{"name": "apps", "all": [
        {"field": "r_score", "op": "gte", "value": 4},
        {"any": [{"field": "channel", "op": "eq", "value": "Android App"},
                 {"field": "channel", "op": "eq", "value": "Mobile"}]},
    ]}]})
    assert r.membership(PROFILE) == ["apps"]
    assert r.membership({**PROFILE, "channel": "Desktop"}) == []
    assert r.membership({**PROFILE, "r_score": 3}) == []
    assert r.audiences[0].text() == "r_score >= 4 and (channel = Android App or channel = Mobile)"


def test_membership_is_sorted_by_name():
    r = rules.parse({"audiences": [{"name": n, "all": [{"field": "r_score", "op": "gte", "value": 1}]} for n in ("zeta", "alpha", "mid")]})
    assert r.membership(PROFILE) == ["alpha", "mid", "zeta"]


def test_toml_files_are_read_too(tmp_path):
    path = write(tmp_path, '[[audiences]]\nname = "vip"\nall = [{field = "aov_score", op = "eq", value = 5}]\n', "rules.toml")
    assert rules.load(path).membership(PROFILE) == ["vip"]


def test_the_engine_never_evaluates_text():
    source = Path(rules.__file__).read_text() + Path(rules.__file__).with_name("frame.py").read_text()
    assert "eval(" not in source and "exec(" not in source and "compile(" not in source


# ---------------------------------------------------------------- bad files: one line naming audience and key

GOOD = "audiences:\n  - name: vip\n    all:\n      - {field: aov_score, op: eq, value: 5}\n"
BAD = {
    "unknown_field": (GOOD.replace("aov_score", "aov_scor"),
                      "line 4: audience 'vip', key 'all[0].field': unknown field 'aov_scor'"),
    "unknown_operator": (GOOD.replace("op: eq", "op: equals"),
                         "line 4: audience 'vip', key 'all[0].op': unknown operator 'equals'"),
    "wrong_type": (GOOD.replace("value: 5", "value: '5'"),
                   "line 4: audience 'vip', key 'all[0].value': aov_score takes whole numbers, not a string '5'"),
    "duplicate_name": (GOOD + "  - name: vip\n    all:\n      - {field: f_score, op: gte, value: 4}\n",
                       "line 5: audience 'vip', key 'name': duplicate name (audience #1 has it too)"),
    "not_yaml": ("audiences:\n  - name: vip\n    all: [{field: aov_score, op: eq, value: 5}\n",
                 "line 4, column 1: not valid YAML: did not find expected ',' or ']'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_stops_the_cli_with_one_line(case, tmp_path, capsys):
    text, expected = BAD[case]
    path = write(tmp_path, text)
    data = tmp_path / "retail.csv"
    data.write_text("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                    "536365,1,X,1,2010-12-01 08:26:00,2.55,17850,United Kingdom\n")
    capsys.readouterr()
    status = main(["batch", str(data), "--format", "online-retail", "--audiences", str(path), "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err
    assert err == f"error: {path}, {expected}\n" if case != "unknown_field" and case != "unknown_operator" \
        else err.startswith(f"error: {path}, {expected} (")


@pytest.mark.parametrize("text,expected", [
    (GOOD.replace("op: eq", "op: gt").replace("aov_score", "segment").replace("value: 5", "value: champions"),
     "line 4: audience 'vip', key 'all[0].op': operator 'gt' does not apply to segment (use one of eq, ne, in, not_in)"),
    (GOOD.replace("op: eq", "op: in"), "line 4: audience 'vip', key 'all[0].value': in takes a non-empty list, not a number"),
    (GOOD.replace("value: 5", "value: [5]"),
     "line 4: audience 'vip', key 'all[0].value': eq takes a single value, not a list (use in / not_in for several)"),
    (GOOD.replace("value: 5", "value: 6"), "line 4: audience 'vip', key 'all[0].value': 6 is outside the range of aov_score (1-5)"),
    (GOOD.replace("value: 5", "value: true"), "line 4: audience 'vip', key 'all[0].value': True is not of type"),
    (GOOD.replace("aov_score, op: eq, value: 5", "aov, op: gt, value: '250'"),
     "line 4: audience 'vip', key 'all[0].value': aov takes an amount in major units (a number), not a string '250'"),
    (GOOD.replace("aov_score, op: eq, value: 5", "segment, op: eq, value: champion"),
     "line 4: audience 'vip', key 'all[0].value': unknown segment 'champion' (segments of the map: "),
    (GOOD.replace("aov_score, op: eq, value: 5", "value_band, op: eq, value: top"),
     "line 4: audience 'vip', key 'all[0].value': unknown value band 'top' (bands: low, mid, high)"),
    (GOOD.replace("aov_score, op: eq, value: 5", "categories, op: contains_any, value: []"),
     "line 4: audience 'vip', key 'all[0].value': contains_any takes a non-empty list, not a list"),
    (GOOD.replace("value: 5}", "value: 5, valu: 4}"), "line 4: audience 'vip', key 'all[0]': Additional properties are not allowed"),
    (GOOD.replace("{field: aov_score, op: eq, value: 5}", "{field: aov_score, op: eq}"),
     "line 4: audience 'vip', key 'all[0]': 'value' is a required property"),
    (GOOD.replace("    all:\n      - {field: aov_score, op: eq, value: 5}\n", "    all: []\n"),
     "line 3: audience 'vip', key 'all': [] should be non-empty"),
    (GOOD.replace("name: vip", "name: VIP list"), "line 2: audience 'VIP list', key 'name': 'VIP list' is not a valid name"),
    (GOOD.replace("value: 5}", "value: 5, op: ne}"), "line 4: key 'op' given twice in one mapping"),
    (GOOD.replace("      - {field", "      - any: []\n      - {field"), "line 4: audience 'vip', key 'all[0].any': [] should be non-empty"),
    ("audiences:\n  - all: [{field: r_score, op: eq, value: 1}]\n", "line 2: audience #1, key '(the audience)': 'name' is a required property"),
    ("- just a list\n", "line 1: not a mapping with an 'audiences' list (found a list)"),
    ("audience: []\n", "line 1: top level: 'audiences' is a required property"),
])
def test_more_bad_files_name_the_audience_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        rules.load(path, segment_names=SEGMENTS)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}, {expected}"), message


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the audience rules"):
        rules.load(tmp_path / "nope.yaml")


def test_bad_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 1"):
        rules.load(write(tmp_path, "[[audiences]\n", "rules.toml"))


def test_rfm_audiences_env_names_the_file_batch_uses(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, GOOD.replace("op: eq", "op: equals"))
    monkeypatch.setenv("RFM_AUDIENCES", str(path))
    data = tmp_path / "retail.csv"
    data.write_text("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                    "536365,1,X,1,2010-12-01 08:26:00,2.55,17850,United Kingdom\n")
    assert main(["batch", str(data), "--format", "online-retail", "--out", str(tmp_path / "o.csv")]) == 2
    assert f"error: {path}, line 4: audience 'vip', key 'all[0].op': unknown operator" in capsys.readouterr().err
    good = write(tmp_path, GOOD, "good.yaml")
    assert main(["batch", str(data), "--format", "online-retail", "--audiences", str(good), "--out", str(tmp_path / "o.csv")]) == 0
    assert json.dumps(open(tmp_path / "o.csv").read().splitlines()[0].split(",")[-2:]) == '["aov_score", "audiences"]'


def test_the_workers_fast_path_selects_what_membership_selects():
    """The worker hands the rules profiles already normalised (membership_of_values); same audiences."""
    import random

    from stream_app.audiences import rules as R
    from stream_app.core.segments import SegmentMap, value_band

    seg = SegmentMap.load()
    rules = R.load(None, seg.names)
    rng = random.Random(1)
    seen = set()
    for _ in range(5000):
        r, f, m, a = (rng.randint(1, 5) for _ in range(4))
        mon, aov, freq = rng.randint(-5000, 10**7), rng.randint(0, 10**6), rng.randint(1, 40)
        ch = rng.choice(["", "Online", "Offline", "Mobile"])
        cats = tuple(sorted(rng.sample(["KADIN", "ERKEK", "COCUK", "AKTIFSPOR", "AKTIFCOCUK"], rng.randint(0, 3))))
        common = {"segment": seg.segment(r, f), "r_score": r, "f_score": f, "m_score": m, "aov_score": a,
                  "rfm_sum": r + f + m, "value_band": value_band(r + f + m), "frequency": freq}
        slow = rules.membership({**common, "monetary_cents": mon, "aov_cents": aov, "channel": ch, "categories": cats})
        fast = rules.membership_of_values({**common, "recency_days": None, "monetary": mon, "aov": aov,
                                           "channel": ch or None, "categories": frozenset(cats)})
        assert fast == slow
        seen.update(slow)
    assert seen == set(rules.names), "every default audience was selected at least once"


def test_errors_name_the_line_of_the_key_they_are_about(tmp_path):
    text = ("version: 1\n"
            "audiences:\n"
            "  - name: first\n"
            "    all:\n"
            "      - {field: f_score, op: gte, value: 4}\n"
            "  - name: second\n"
            "    description: two alternatives\n"
            "    all:\n"
            "      - any:\n"
            "          - {field: segment, op: eq, value: champions}\n"
            "          - field: aov\n"
            "            op: gt\n"
            "            value: cheap\n")
    with pytest.raises(ConfigError) as info:
        rules.load(write(tmp_path, text), segment_names=SEGMENTS)
    assert str(info.value).startswith(f"{tmp_path / 'rules.yaml'}, line 13: audience 'second', key 'all[0].any[1].value': "
                                      "aov takes an amount")
    with pytest.raises(ConfigError) as info:
        rules.load(write(tmp_path, text.replace("op: gt\n", "op: greater\n")), segment_names=SEGMENTS)
    assert str(info.value).startswith(f"{tmp_path / 'rules.yaml'}, line 12: audience 'second', key 'all[0].any[1].op': "
                                      "unknown operator 'greater'")
