"""Audience rules: a declarative file compiled into plain-Python predicates over one customer profile.

A rule file (YAML, or TOML by extension) names audiences; each is a list of
conditions ``field op value`` that must all hold, where an item ``any: [...]``
holds when one of its conditions does. The file is checked against
schemas/audiences.schema.json for its shape, then here for meaning (which
operators apply to a field, the type of each value), and every problem stops
with one line naming the file, the audience and the key. Nothing is ever
evaluated as code: each operator is a fixed Python function.

:meth:`AudienceRules.membership` is the reference, one profile at a time (the
streaming worker calls it per profile); :mod:`stream_app.audiences.frame` does
the same over a whole scored DataFrame, and the tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from stream_app.audiences import document
from stream_app.core.config_text import read_config_text
from stream_app.core.money import to_cents
from stream_app.core.names import NAME_RULE, is_name, shown
from stream_app.core.validate import load_schema
from stream_app.errors import ConfigError

#: a package resource, so that an installed wheel finds it wherever it lives
DEFAULT_AUDIENCES = resources.files("stream_app") / "config" / "audiences.yaml"
SCHEMA_NAME = "audiences.schema.json"

#: profile field -> kind: whole numbers, money (major units in the file, exact cents in the profile),
#: labels (strings, possibly missing) and the categories set.
FIELDS: dict[str, str] = {
    "segment": "label", "r_score": "int", "f_score": "int", "m_score": "int", "aov_score": "int",
    "rfm_sum": "int", "value_band": "label", "recency_days": "int", "frequency": "int",
    "monetary": "money", "aov": "money", "channel": "label", "categories": "set",
}
KIND_OPS: dict[str, tuple[str, ...]] = {
    "int": ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"),
    "money": ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte"),
    "label": ("eq", "ne", "in", "not_in"),
    "set": ("contains_any", "contains_all"),
}
OPERATORS = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "contains_any", "contains_all")
LIST_OPS = ("in", "not_in", "contains_any", "contains_all")
#: inclusive ranges of bounded fields, so that `aov_score eq 6` is refused rather than never true
RANGES: dict[str, tuple[int, int]] = {"r_score": (1, 5), "f_score": (1, 5), "m_score": (1, 5),
                                      "aov_score": (1, 5), "rfm_sum": (3, 15)}
#: whole-number values fit a signed 64-bit integer, as the batch path compares them in numpy int64
MAX_INT = 2**63 - 1
#: money thresholds in major units; as cents (x100) they still fit int64 with room to spare
MAX_AMOUNT = 10**15
VALUE_BANDS = ("low", "mid", "high")
MONEY_CENTS = {"monetary": "monetary_cents", "aov": "aov_cents"}

Value = int | Decimal | str | frozenset
#: audiences as the worker tests them, sorted by name: (name, items), each item a tuple of alternatives
#: (field, test, value), of which one must hold
Plans = tuple[tuple[str, tuple[tuple[tuple[str, Callable[[Any, Any], bool], Any], ...], ...]], ...]


@dataclass(frozen=True)
class Condition:
    """``field op value`` with the value normalised: int, Decimal cents, str, or a frozenset of them."""

    field: str
    op: str
    value: Value
    #: the value as the file wrote it (list order kept), for :meth:`text` only
    written: Any = dataclasses.field(default=None, compare=False)

    def test(self, values: Mapping[str, Any]) -> bool:
        """True when the condition holds for one normalised profile (see :func:`profile_values`)."""
        return _TESTS[self.op](values.get(self.field), self.value)

    def text(self) -> str:
        """The condition as a person reads it: ``aov > 250``, ``categories contains any of {KADIN}``."""
        v = self.value
        if isinstance(v, frozenset):
            items = self.written if isinstance(self.written, list) else sorted(v)
            shown = "{" + ", ".join(_show(x, self.field) for x in items) + "}"
        else:
            shown = _show(v, self.field)
        return f"{self.field} {_SYMBOLS[self.op]} {shown}"


@dataclass(frozen=True)
class Audience:
    """A named audience: every item must hold; an item is a tuple of alternatives (one condition, or an `any`)."""

    name: str
    items: tuple[tuple[Condition, ...], ...]
    description: str = ""

    def text(self) -> str:
        parts = []
        for alternatives in self.items:
            joined = " or ".join(c.text() for c in alternatives)
            parts.append(f"({joined})" if len(alternatives) > 1 else joined)
        return " and ".join(parts)


@dataclass(frozen=True)
class AudienceRules:
    """Every audience of one rule file, in file order."""

    audiences: tuple[Audience, ...]
    source: str = ""

    def __post_init__(self) -> None:
        # each audience as (name, items of (field, test, value) alternatives), by name: the worker tests every
        # changed customer against every audience, and reading the conditions' attributes and the operator
        # table each time was two fifths of it
        object.__setattr__(self, "_plans", tuple(
            (a.name, tuple(tuple((c.field, _TESTS[c.op], c.value) for c in alternatives) for alternatives in a.items))
            for a in sorted(self.audiences, key=lambda a: a.name)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.audiences)

    def membership(self, profile: Mapping[str, Any]) -> list[str]:
        """Sorted names of the audiences one profile belongs to.

        ``profile`` is a scored profile as batch rows, Redis hashes or the
        worker's state give it: scores as ints or digit strings, money as
        ``monetary_cents``/``aov_cents`` or decimal strings, categories as a
        sequence (or a JSON list / comma-separated string).
        """
        return self.membership_of_values(profile_values(profile))

    def membership_of_values(self, values: Mapping[str, Any]) -> list[str]:
        """As :meth:`membership`, for a profile already in :func:`profile_values` form (the worker's fast path)."""
        return members(self._plans, values)  # type: ignore[attr-defined]

    def narrowed(self, known: Mapping[str, Any]) -> Plans:
        """The rules for every profile whose fields named in ``known`` have those values (normalised as in
        :func:`profile_values`): what :func:`members` then needs only the other fields for.

        An audience with an item that no known value satisfies and no other field can is gone; an item one
        of whose known alternatives holds is dropped (it holds whatever the rest is); the other items keep
        their alternatives on unknown fields. Audiences whose every item is dropped have no item left:
        every such profile is a member. The worker narrows once per combination of scores and segment
        (worker/scorer.py), where testing every condition of every audience per customer was a quarter of
        a bulk load's scoring.
        """
        plans = []
        for name, items in self._plans:  # type: ignore[attr-defined]
            left = []
            for alternatives in items:
                if any(test(known[f], v) for f, test, v in alternatives if f in known):
                    continue
                rest = tuple(a for a in alternatives if a[0] not in known)
                if not rest:
                    break
                left.append(rest)
            else:
                plans.append((name, tuple(left)))
        return tuple(plans)

    @property
    def fingerprint(self) -> str:
        """Changes whenever what the rules select changes, and only then.

        The worker stores it with the published boundaries and compares it on
        every start: a fingerprint that differed between two runs of the same
        file would rescore every customer on every restart. So it hashes
        :meth:`canonical`, which holds no ``repr`` of a set (whose order
        follows the process's hash seed), and not descriptions, comments,
        layout, or the order of audiences, conditions and list values.
        """
        import hashlib

        return hashlib.sha256(self.canonical().encode()).hexdigest()[:16]

    def canonical(self) -> str:
        """The rules as sorted, compact JSON: equal text exactly when the rules select the same customers."""
        import json

        audiences = sorted(
            [a.name, sorted(sorted(_canonical_condition(c) for c in alternatives) for alternatives in a.items)]
            for a in self.audiences)
        return json.dumps({"rules": 1, "audiences": audiences}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=True)

    def __iter__(self):
        return iter(self.audiences)

    def __len__(self) -> int:
        return len(self.audiences)


def members(plans: Plans, values: Mapping[str, Any]) -> list[str]:
    """The names (in ``plans``' order, sorted by name) of the audiences whose every item holds for ``values``:
    one of its alternatives does."""
    out = []
    for name, items in plans:
        for alternatives in items:
            for field_name, test, value in alternatives:
                if test(values.get(field_name), value):
                    break
            else:
                break
        else:
            out.append(name)
    return out


def _canonical_condition(cond: Condition) -> list:
    """``[field, op, value]`` in JSON types: sets as sorted lists, money as a string of cents without trailing zeros.

    A field has one kind of value, so sorting a set's values never compares a
    number with a string, and two conditions on one field and operator hold
    values of one type.
    """
    def one(v: Any) -> Any:
        return format(v.normalize(), "f") if isinstance(v, Decimal) else v  # 25000 and 25000.0 cents: one threshold

    v = cond.value
    return [cond.field, cond.op, [one(x) for x in sorted(v)] if isinstance(v, frozenset) else one(v)]


def profile_values(profile: Mapping[str, Any]) -> dict[str, Any]:
    """A profile's rule fields as comparable Python values: ints, int cents, str or None, frozenset."""
    out: dict[str, Any] = {}
    for name, kind in FIELDS.items():
        raw = profile.get(name)
        if kind == "int":
            out[name] = None if _missing(raw) else int(raw)
        elif kind == "money":
            cents = profile.get(MONEY_CENTS[name])
            out[name] = int(cents) if not _missing(cents) else (None if _missing(raw) else to_cents(raw))
        elif kind == "label":
            out[name] = None if _missing(raw) or raw == "" else str(raw)
        else:
            out[name] = parse_categories(raw)
    return out


def parse_categories(raw: Any) -> frozenset[str]:
    """Categories from a tuple/list/set, a JSON list string or a comma-separated string."""
    if raw is None or (isinstance(raw, float) and raw != raw):
        return frozenset()
    if isinstance(raw, bytes):
        raw = raw.decode()
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            import json

            try:
                items = json.loads(text)
            except ValueError:
                items = text.strip("[]").split(",")
        else:
            items = text.split(",")
        return frozenset(str(x).strip() for x in items if str(x).strip())
    return frozenset(str(x) for x in raw)


# ---------------------------------------------------------------- loading


def load(path: str | Path | None = None, segment_names: tuple[str, ...] | None = None) -> AudienceRules:
    """The rules of a YAML (or .toml) file; the packaged defaults when path is empty.

    ``segment_names`` (from the segment map in use) lets a misspelt segment
    stop the load instead of matching nobody.
    """
    source = str(path or DEFAULT_AUDIENCES)
    text = read_config_text(Path(path) if path else DEFAULT_AUDIENCES, "audience rules")
    data, lines = document.decode_with_lines(text, source)
    return parse(data, source, segment_names, lines)


def parse(data: Any, source: str = "audience rules", segment_names: tuple[str, ...] | None = None,
          lines: Mapping[tuple, int] | None = None) -> AudienceRules:
    """Rules from an already decoded document (a dict), validated and compiled.

    ``lines`` (document path -> line, from :func:`document.decode_with_lines`)
    lets each error name the line of the file it is about.
    """
    def at(*path: object) -> str:
        return _at(source, lines, path)

    if not isinstance(data, dict):
        raise ConfigError(f"{at()}: not a mapping with an 'audiences' list (found {_type_name(data)})")
    errors = sorted(_validator().iter_errors(data), key=_error_order)
    if errors:
        raise ConfigError(_schema_message(errors[0], data, at(*errors[0].absolute_path)))
    seen: dict[str, int] = {}
    audiences = []
    for i, spec in enumerate(data["audiences"]):
        name = spec["name"]
        if not is_name(name):  # the schema's pattern, as a full match: `$` lets "vip\n" through re.search
            raise ConfigError(f"{at('audiences', i, 'name')}: audience {shown(name)}, key 'name': {_bad_name(name)}")
        if name in seen:
            raise ConfigError(f"{at('audiences', i, 'name')}: audience {shown(name)}, key 'name': duplicate name "
                              f"(audience #{seen[name] + 1} has it too)")
        seen[name] = i
        items = []
        for j, item in enumerate(spec["all"]):
            if "any" in item:
                items.append(tuple(_condition(c, name, f"all[{j}].any[{k}]", segment_names,
                                              lambda sub, j=j, k=k: at("audiences", i, "all", j, "any", k, sub))
                                   for k, c in enumerate(item["any"])))
            else:
                items.append((_condition(item, name, f"all[{j}]", segment_names,
                                         lambda sub, j=j: at("audiences", i, "all", j, sub)),))
        audiences.append(Audience(name=name, items=tuple(items), description=spec.get("description", "").strip()))
    return AudienceRules(tuple(audiences), source)


_VALIDATOR: Draft202012Validator | None = None


def _validator() -> Draft202012Validator:
    global _VALIDATOR
    if _VALIDATOR is None:
        schema = load_schema(SCHEMA_NAME)
        Draft202012Validator.check_schema(schema)
        _VALIDATOR = Draft202012Validator(schema)
    return _VALIDATOR


def _error_order(error: ValidationError) -> tuple:
    """Document order, then the most specific error first."""
    path = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path)
    return path, error.validator not in ("enum", "additionalProperties", "required", "type")


def _at(source: str, lines: Mapping[tuple, int] | None, path: tuple) -> str:
    """``FILE, line N`` for the deepest part of ``path`` whose line is known, else ``FILE``."""
    if lines:
        for end in range(len(path), -1, -1):
            line = lines.get(tuple(path[:end]))
            if line is not None:
                return f"{source}, line {line}"
    return source


def _schema_message(error: ValidationError, data: Any, source: str) -> str:
    path = list(error.absolute_path)
    if len(path) < 2 or path[0] != "audiences":
        key = ".".join(map(str, path)) or "top level"
        return f"{source}: {key}: {_reason(error)}"
    index = path[1]
    spec = data["audiences"][index]
    name = spec.get("name") if isinstance(spec, dict) else None
    who = f"audience {shown(name)}" if isinstance(name, str) else f"audience #{index + 1}"
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[2:]).lstrip(".") or "(the audience)"
    return f"{source}: {who}, key {key!r}: {_reason(error)}"


def _reason(error: ValidationError) -> str:
    field = error.absolute_path[-1] if error.absolute_path else None
    if error.validator == "enum" and field == "field":
        return f"unknown field {shown(error.instance)} (fields: {', '.join(FIELDS)})"
    if error.validator == "enum" and field == "op":
        return f"unknown operator {shown(error.instance)} (operators: {', '.join(OPERATORS)})"
    if error.validator == "pattern" and field == "name":
        return _bad_name(error.instance)
    if error.validator == "type":
        return f"{shown(error.instance)} is not of type {error.validator_value!r}" if not isinstance(error.instance, (dict, list)) \
            else f"must be of type {error.validator_value!r}, not {type(error.instance).__name__}"
    first = error.message.splitlines()[0]
    return first if len(first) <= 200 else first[:200] + "..."


def _bad_name(name: Any) -> str:
    return f"{shown(name)} is not a valid name ({NAME_RULE})"


def _condition(spec: dict, audience: str, key: str, segment_names: tuple[str, ...] | None,
               at: Callable[[str], str]) -> Condition:
    """One condition compiled; ``at(sub)`` names the file (and line) of its key ``sub``."""
    field, op, raw = spec["field"], spec["op"], spec["value"]
    kind = FIELDS[field]

    def fail(reason: str, sub: str = "value") -> ConfigError:
        return ConfigError(f"{at(sub)}: audience {shown(audience)}, key '{key}.{sub}': {reason}")

    if op not in KIND_OPS[kind]:
        raise fail(f"operator {op!r} does not apply to {field} (use one of {', '.join(KIND_OPS[kind])})", "op")
    if op in LIST_OPS:
        if not isinstance(raw, list) or not raw:
            raise fail(f"{op} takes a non-empty list, not {_type_name(raw)}")
        items = [_scalar(v, field, kind, fail, segment_names) for v in raw]
        return Condition(field, op, frozenset(items), written=items)
    if isinstance(raw, list):
        raise fail(f"{op} takes a single value, not a list (use in / not_in for several)")
    return Condition(field, op, _scalar(raw, field, kind, fail, segment_names))


def _scalar(v: Any, field: str, kind: str, fail: Callable[[str], ConfigError],
            segment_names: tuple[str, ...] | None) -> int | Decimal | str:
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise fail(f"{field} takes whole numbers, not {_type_name(v)} {shown(v)}")
        lo, hi = RANGES.get(field, (0, MAX_INT))
        if not lo <= v <= hi:
            raise fail(f"{v} is outside the range of {field} ({lo}-{hi})")
        return v
    if kind == "money":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise fail(f"{field} takes an amount in major units (a number), not {_type_name(v)} {shown(v)}")
        if v != v or v in (float("inf"), float("-inf")):
            raise fail(f"{field} takes a finite amount, not {shown(v)}")
        if abs(v) > MAX_AMOUNT:
            raise fail(f"{field} takes an amount of at most {MAX_AMOUNT:,} in absolute value, not {shown(v)}")
        return Decimal(repr(v) if isinstance(v, float) else v) * 100  # exact cents, maybe fractional
    if not isinstance(v, str) or not v:
        raise fail(f"{field} takes non-empty strings, not {_type_name(v)} {shown(v)}")
    if field == "value_band" and v not in VALUE_BANDS:
        raise fail(f"unknown value band {shown(v)} (bands: {', '.join(VALUE_BANDS)})")
    if field == "segment" and segment_names is not None and v not in segment_names:
        raise fail(f"unknown segment {shown(v)} (segments of the map: {', '.join(segment_names)})")
    return v


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(v), type(v).__name__)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, (str, bytes)) and not v.strip())


def _show(v: Any, field: str) -> str:
    if FIELDS[field] == "money" and isinstance(v, Decimal):
        text = f"{v / 100:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(v)


def _in(a: Any, b: frozenset) -> bool:
    return a is not None and a in b


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a is not None and a == b,
    "ne": lambda a, b: a is None or a != b,
    "in": _in,
    "not_in": lambda a, b: not _in(a, b),
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "contains_any": lambda a, b: not b.isdisjoint(a or ()),
    "contains_all": lambda a, b: b.issubset(a or ()),
}
_SYMBOLS = {"eq": "=", "ne": "!=", "in": "in", "not_in": "not in", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=",
            "contains_any": "contains any of", "contains_all": "contains all of"}
