"""Arbitrary documents and text into the rule-file and segment-map readers: a ConfigError of one line, or rules.

Nothing else may come out: a ValueError, RecursionError or KeyError here
would be a traceback for the person who wrote the file.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_app.audiences import document, rules
from stream_app.core import segments
from stream_app.errors import ConfigError

SEGMENTS = segments.SegmentMap.load().names
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(), st.text(max_size=8),
                    st.sampled_from([*rules.FIELDS, *rules.OPERATORS, *SEGMENTS, "low", "any", "all", "name"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["field", "op", "value", "any", "all", "name", "description", "x"]), inner, max_size=4), max_leaves=20)
condition = st.fixed_dictionaries({"field": st.sampled_from(list(rules.FIELDS)), "op": st.sampled_from(rules.OPERATORS),
                                   "value": values})
item = st.one_of(condition, st.fixed_dictionaries({"any": st.lists(st.one_of(condition, values), max_size=3)}), values)
audience = st.fixed_dictionaries({"name": st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,5}\n?", fullmatch=True), scalars),
                                  "all": st.lists(item, max_size=3)})
documents = st.one_of(st.fixed_dictionaries({"audiences": st.lists(st.one_of(audience, values), max_size=3)}), values)


def accepted_or_one_line(read):
    try:
        return read()
    except ConfigError as exc:
        assert "\n" not in str(exc), str(exc)
        return None


@FUZZ
@given(documents)
def test_any_document(data):
    loaded = accepted_or_one_line(lambda: rules.parse(data, "rules.yaml", SEGMENTS))
    if loaded is not None:
        assert len(loaded.fingerprint) == 16 and all(a.name.isidentifier() for a in loaded)


@FUZZ
@given(st.text(alphabet="[]{}:,-&*ab !#'\"\n 019.e", max_size=60))
def test_any_yaml_text(text):
    accepted_or_one_line(lambda: rules.parse(document.decode(text, "rules.yaml"), "rules.yaml", SEGMENTS))


@FUZZ
@given(st.text(alphabet="[]{}=,.-:'\"\n aT0129_x#tf+e", max_size=60))
def test_any_toml_text(text):
    accepted_or_one_line(lambda: rules.parse(document.decode(text, "rules.toml"), "rules.toml", SEGMENTS))


@FUZZ
@given(st.binary(max_size=40) | st.text(alphabet='[]{}":,R1F a$\n09e.-', max_size=60).map(str.encode))
def test_any_segment_map_bytes(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("map") / "segments.json"
    path.write_bytes(content)
    accepted_or_one_line(lambda: segments.SegmentMap.load(path))
