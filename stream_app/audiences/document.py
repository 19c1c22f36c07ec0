"""A rule file's text as plain data (dicts, lists, scalars), with bounds that hold before anything is built.

YAML can say a great deal in a few bytes: 700 bytes of nested aliases expand
to billions of nodes (the schema check then walks every one), an alias can
name the node that contains it, and 5,000 brackets overflow the recursive
composer. So before composing, one pass over the parser's events (the parser
is not recursive) bounds the nesting and counts aliases; then the composed
node graph is measured as if every alias were a copy, and only then
constructed. Numbers are bounded by their length in the text, because
Python refuses to convert an integer of more than 4,300 digits and the
error would name no line.

Parsing uses libyaml (PyYAML's C parser, in its wheels) when present: on
flow-style files the pure-Python scanner is 10-15 times slower (a 120 KB
file of nested lists takes 5.6 s instead of 0.34 s).
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import yaml

from stream_app.core.config_text import nesting_depth_exceeds
from stream_app.core.names import shown
from stream_app.errors import ConfigError

#: deepest nesting of lists and mappings (a rule file needs 9: audiences, all, any, value lists)
MAX_DEPTH = 32
#: alias uses (``*name``) in one file
MAX_ALIASES = 100
#: lists, mappings and scalars once every alias is expanded
MAX_NODES = 100_000
#: characters of one number as written
MAX_NUMBER_CHARS = 40

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def decode(text: str, source: str) -> Any:
    """The document of a .toml file, else of YAML; ConfigError with ``FILE[, line N]: reason``."""
    return decode_with_lines(text, source)[0]


def decode_with_lines(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    """The document and, for YAML, the line of each path in it (``("audiences", 0, "all", 1)`` -> 7)."""
    if source.endswith(".toml"):
        return _toml(text, source), {}
    return _yaml(text, source)


def _toml(text: str, source: str) -> Any:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # an integer too long to convert
        match = re.search(rf"\d[\d_]{{{MAX_NUMBER_CHARS},}}", text)
        line = f", line {text.count(chr(10), 0, match.start()) + 1}" if match else ""
        raise ConfigError(f"{source}{line}: a number longer than {MAX_NUMBER_CHARS} characters") from None
    if nesting_depth_exceeds(data, MAX_DEPTH):
        raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels")
    return data


def _yaml(text: str, source: str) -> tuple[Any, dict[tuple, int]]:
    try:
        _check_events(text)
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            _check_expanded(node)
            return loader.construct_document(node), _lines(node)
        finally:
            loader.dispose()
    except ConfigError as exc:
        raise ConfigError(f"{source}, {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}{where}: not valid YAML: {problem}") from None


def _line(mark: Any) -> str:
    return f"line {mark.line + 1}"


def _check_events(text: str) -> None:
    """Nesting, values and aliases counted from the parser's events, before the (recursive) composer runs."""
    depth = aliases = values = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.CollectionStartEvent, yaml.ScalarEvent)):
            values += 1
            if values > MAX_NODES:
                raise ConfigError(f"{_line(event.start_mark)}: more than {MAX_NODES:,} values (an alias counts as a copy)")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{_line(event.start_mark)}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(f"{_line(event.start_mark)}: more than {MAX_ALIASES} aliases")


def _check_expanded(root: yaml.Node) -> None:
    """Size and depth of the document with every alias expanded; an alias inside its own anchor is refused.

    Shared nodes are measured once (memoised by identity), so this is linear
    in the composed graph even when the expansion is astronomically large.
    """
    measured: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:  # (nodes, depth); recursion bounded by MAX_DEPTH
        key = id(node)
        if key in measured:
            return measured[key]
        if key in open_nodes:
            raise ConfigError(f"{_line(node.start_mark)}: an alias refers to a node that contains it")
        if isinstance(node, yaml.ScalarNode):
            return 1, 0
        open_nodes.add(key)
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        size, depth = 1, 0
        for child in children:
            child_size, child_depth = measure(child)
            size, depth = size + child_size, max(depth, child_depth)
            if size > MAX_NODES:
                raise ConfigError(f"{_line(node.start_mark)}: more than {MAX_NODES:,} values (an alias counts as a copy)")
        depth += 1
        if depth > MAX_DEPTH:
            raise ConfigError(f"{_line(node.start_mark)}: nested deeper than {MAX_DEPTH} levels once aliases are expanded")
        open_nodes.discard(key)
        measured[key] = (size, depth)
        return size, depth

    measure(root)


def _lines(root: yaml.Node) -> dict[tuple, int]:
    """Path -> 1-based line of every node (keys of mappings by their text); bounded by _check_expanded."""
    lines: dict[tuple, int] = {(): root.start_mark.line + 1}
    stack: list[tuple[tuple, yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            children = [(path + (k.value,), k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        elif isinstance(node, yaml.SequenceNode):
            children = [(path + (i,), v, v) for i, v in enumerate(node.value)]
        else:
            continue
        for child_path, where, child in children:
            lines[child_path] = where.start_mark.line + 1
            stack.append((child_path, child))
    return lines


class _BoundedLoader(_Loader):  # type: ignore[misc, valid-type]
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last) and overlong numbers."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # PyYAML lets a scalar's own conversion error out as a bare ValueError (`2001-02-30`, `!!int abc`)
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConfigError(f"{_line(node.start_mark)}: cannot read {shown(node.value)}: {exc}") from None


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    keys: set = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(f"{_line(key_node.start_mark)}: a key must be a plain value, not a list or mapping")
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise ConfigError(f"{_line(key_node.start_mark)}: key {key!r} given twice in one mapping")
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_number(loader: _BoundedLoader, node: yaml.ScalarNode) -> Any:
    if len(node.value) > MAX_NUMBER_CHARS:
        raise ConfigError(f"{_line(node.start_mark)}: a number longer than {MAX_NUMBER_CHARS} characters")
    construct = yaml.SafeLoader.construct_yaml_int if node.tag.endswith(":int") else yaml.SafeLoader.construct_yaml_float
    return construct(loader, node)


_BoundedLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_number)
_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _construct_number)
