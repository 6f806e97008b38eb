"""YAML loading with positions: plain data plus a side tree of source marks.

The loader builds values from libyaml's event stream itself (no recursion, no PyYAML
composer), so it can refuse what a flow never needs before it costs anything:

- files over :data:`MAX_BYTES`, nesting deeper than :data:`MAX_DEPTH`, and more than
  :data:`MAX_NODES` nodes after alias expansion (YAML "billion laughs" bombs);
- duplicate keys, non-scalar keys, recursive or undefined aliases, custom tags,
  several documents in one file.

Scalars resolve by the YAML 1.2 core schema: only ``true``/``false`` are booleans;
``yes``/``no``/``on``/``off`` stay strings (marked ``bool_like`` so that a later stage can
warn where a boolean is expected). Merge keys (``<<: *defaults``) are supported.
"""

from __future__ import annotations

import bisect
import copy
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from flowc.compile.diagnostics import Sink

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000

PathItem = str | int
Path = tuple[PathItem, ...]


@dataclass(slots=True)
class Pos:
    """Where one node sits in the source (1-based line/col; ``index`` 0-based offset)."""

    line: int
    col: int
    index: int
    end_line: int
    end_col: int
    end_index: int
    style: str | None = None
    """Scalar style: None (plain), ``'``, ``"``, ``|``, ``>``."""
    raw: str | None = None
    """The scalar's text as written (plain scalars), e.g. ``+14155551234``."""
    bool_like: bool = False
    """A plain ``yes``/``no``/``on``/``off`` (a string in YAML 1.2)."""
    children: dict[PathItem, Pos] = field(default_factory=dict)
    keys: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Mapping keys: name -> (line, col, end_col) of the key itself."""
    count: int = 1
    """Nodes in this subtree after alias expansion."""


class Positions:
    """Look up source positions by JSON path (``("documents", "answer", 0, "Speak")``)."""

    def __init__(self, root: Pos | None) -> None:
        self.root = root

    def node(self, path: Sequence[PathItem]) -> Pos | None:
        """The node at ``path``, or None."""
        pos = self.root
        for item in path:
            if pos is None:
                return None
            pos = pos.children.get(item)
        return pos

    def nearest(self, path: Sequence[PathItem]) -> Pos | None:
        """The node at ``path`` or its deepest existing ancestor."""
        pos = self.root
        for item in path:
            if pos is None:
                break
            child = pos.children.get(item)
            if child is None:
                break
            pos = child
        return pos

    def value(self, path: Sequence[PathItem]) -> tuple[int, int, int | None]:
        """(line, col, end_col) of the value at ``path`` (nearest ancestor if absent)."""
        pos = self.nearest(path)
        if pos is None:
            return 1, 1, None
        end = pos.end_col if pos.end_line == pos.line and pos.end_col > pos.col else None
        return pos.line, pos.col, end

    def key(self, path: Sequence[PathItem]) -> tuple[int, int, int | None]:
        """(line, col, end_col) of the mapping key that ends ``path`` (else of the value)."""
        if path and isinstance(path[-1], str):
            parent = self.node(path[:-1])
            if parent is not None and path[-1] in parent.keys:
                return parent.keys[path[-1]]
        return self.value(path)


class Source:
    """The text of a flow file with a line index (offsets <-> 1-based line/col)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        self.starts.extend(m.end() for m in re.finditer("\n", text))

    def linecol(self, index: int) -> tuple[int, int]:
        """1-based (line, col) of a 0-based character offset."""
        line = bisect.bisect_right(self.starts, index) - 1
        return line + 1, index - self.starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of 1-based ``line`` without its newline."""
        if not 1 <= line <= len(self.starts):
            return ""
        end = self.starts[line] - 1 if line < len(self.starts) else len(self.text)
        return self.text[self.starts[line - 1]:end]

    def find(self, pos: Pos, needle: str) -> tuple[int, int, int] | None:
        """(line, col, end_col) of the first whole-word ``needle`` inside node ``pos``."""
        chunk = self.text[pos.index:pos.end_index]
        match = re.search(r"(?<![A-Za-z0-9_])" + re.escape(needle) + r"(?![A-Za-z0-9_])", chunk)
        if match is None:
            return None
        line, col = self.linecol(pos.index + match.start())
        return line, col, col + len(needle)

    def template_line(self, pos: Pos, line: int) -> tuple[int, int]:
        """Where line ``line`` (1-based) of a scalar's value sits in the file."""
        if line <= 1 and pos.style not in ("|", ">"):
            return pos.line, pos.col
        if pos.style in ("|", ">"):
            target = pos.line + line
        else:
            target = min(pos.line + line - 1, pos.end_line)
        text = self.line_text(target)
        return target, len(text) - len(text.lstrip()) + 1


@dataclass
class Loaded:
    """The result of :func:`load`: data (None on failure) and positions."""

    data: Any
    positions: Positions
    ok: bool


# ---------------------------------------------------------------- YAML 1.2 core scalars

_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
BOOL_LIKE = {
    word: value
    for words, value in (("yes y on", True), ("no n off", False))
    for base in words.split()
    for word in (base, base.capitalize(), base.upper())
}
_KNOWN_TAGS = {
    "tag:yaml.org,2002:str": "str",
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
    "!": "str",
}


def resolve_plain(text: str) -> Any:
    """The YAML 1.2 core-schema value of a plain scalar."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


class _TagError(ValueError):
    pass


def _resolve_tagged(tag: str, text: str) -> Any:
    kind = _KNOWN_TAGS.get(tag)
    if kind is None:
        raise _TagError(f"unsupported YAML tag {tag!r}; flows use plain YAML values")
    if kind == "str":
        return text
    value = resolve_plain(text)
    wanted: dict[str, Any] = {"int": int, "float": (int, float), "bool": bool,
                              "null": type(None)}
    ok = isinstance(value, wanted[kind])
    if (isinstance(value, bool) and kind != "bool") or not ok:
        raise _TagError(f"{text!r} is not a valid !!{kind}")
    return float(value) if kind == "float" else value


# ------------------------------------------------------------------------------ loading


@dataclass
class _Frame:
    kind: str  # "map" | "seq"
    value: Any
    pos: Pos
    anchor: str | None
    depth: int
    pending_key: str | None = None
    pending_key_mark: tuple[int, int, int] | None = None
    key_is_bad: bool = False
    merges: list[tuple[Any, Pos]] = field(default_factory=list)
    explicit: set[str] = field(default_factory=set)


def _mark(mark: Any) -> tuple[int, int, int]:
    return mark.line + 1, mark.column + 1, mark.index


def _pos(event: Any, **extra: Any) -> Pos:
    line, col, index = _mark(event.start_mark)
    end_line, end_col, end_index = _mark(event.end_mark)
    return Pos(line, col, index, end_line, end_col, end_index, **extra)


def load(text: str, sink: Sink) -> Loaded:
    """Parse one YAML document into plain data with positions; problems go to ``sink``."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        sink.add(1, 1, f"file is {size} bytes; flows are limited to {MAX_BYTES} bytes",
                 "yaml.too-large")
        return Loaded(None, Positions(None), False)
    try:
        return _compose(text, sink)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if "end of stream" in problem and exc.context_mark is not None:
            mark = exc.context_mark  # point at what was left open, not at the file's end
            what = (exc.context or "a value").replace("while scanning ", "").replace(
                "while parsing ", "")
            problem = f"{what} is never closed (the file ends first)"
        elif exc.context and exc.context_mark is not None:
            problem = f"{problem} ({exc.context} at line {exc.context_mark.line + 1})"
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if mark is not None and text[mark.index:mark.index + 1] == "\t":
            problem += "; YAML indentation must use spaces, not tabs"
        code = "yaml.too-deep" if "nesting depth" in problem else "yaml.syntax"
        sink.add(line, col, problem, code)
    except yaml.YAMLError as exc:  # reader errors (control characters...)
        sink.add(1, 1, str(exc).splitlines()[0], "yaml.syntax")
    return Loaded(None, Positions(None), False)


class _Abort(Exception):
    pass


def _compose(text: str, sink: Sink) -> Loaded:
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    stack: list[_Frame] = []
    anchors: dict[str, tuple[Any, Pos] | None] = {}
    total = 0
    root: tuple[Any, Pos] | None = None
    documents = 0
    ok = True

    def attach(value: Any, pos: Pos) -> None:
        nonlocal root, ok
        if not stack:
            root = (value, pos)
            return
        frame = stack[-1]
        frame.pos.count += pos.count
        if frame.kind == "seq":
            frame.pos.children[len(frame.value)] = pos
            frame.value.append(value)
            return
        if frame.pending_key is None:
            if frame.key_is_bad:
                frame.key_is_bad = False
                frame.pending_key = "\0bad"
                return
            # this node is a key
            if not isinstance(value, str) or pos.children:
                sink.add(pos.line, pos.col, "mapping keys must be plain strings", "yaml.key-type")
                frame.pending_key = "\0bad"
                return
            frame.pending_key = value
            frame.pending_key_mark = (pos.line, pos.col, pos.end_col)
            return
        key = frame.pending_key
        frame.pending_key = None
        if key == "\0bad":
            return
        assert frame.pending_key_mark is not None
        if key == "<<" and frame.pending_key_mark is not None and pos_is_merge(value):
            frame.merges.append((value, pos))
            return
        if key in frame.value:
            first = frame.pos.keys[key]
            line, col, end = frame.pending_key_mark
            sink.add(line, col, f"duplicate key {key!r} (first defined at line {first[0]})",
                     "yaml.duplicate-key", end_col=end)
            ok = False
            return
        frame.value[key] = value
        frame.explicit.add(key)
        frame.pos.children[key] = pos
        frame.pos.keys[key] = frame.pending_key_mark

    def pos_is_merge(value: Any) -> bool:
        return isinstance(value, dict) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
        )

    def count(n: int, event: Any) -> None:
        nonlocal total
        total += n
        if total > MAX_NODES:
            line, col, _ = _mark(event.start_mark)
            sink.add(line, col, f"document expands to more than {MAX_NODES} nodes "
                     "(alias bomb?)", "yaml.too-complex")
            raise _Abort

    def register(anchor: str | None, value: Any, pos: Pos) -> None:
        if anchor is not None:
            anchors[anchor] = (value, pos)

    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    line, col, _ = _mark(event.start_mark)
                    sink.add(line, col, "a flow file holds one YAML document",
                             "yaml.multiple-documents")
                    ok = False
                    break
            elif isinstance(event, yaml.ScalarEvent):
                count(1, event)
                style = event.style or None
                extra: dict[str, Any] = {"style": style}
                try:
                    if event.tag is not None and event.tag != "!":
                        value = _resolve_tagged(event.tag, event.value)
                    elif style is None and event.tag is None:
                        value = resolve_plain(event.value)
                        extra["raw"] = event.value
                        extra["bool_like"] = event.value in BOOL_LIKE
                    else:
                        value = event.value
                except _TagError as exc:
                    line, col, _ = _mark(event.start_mark)
                    sink.add(line, col, str(exc), "yaml.tag")
                    ok = False
                    value = event.value
                pos = _pos(event, **extra)
                register(event.anchor, value, pos)
                attach(value, pos)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                count(1, event)
                depth = len(stack) + 1
                if depth > MAX_DEPTH:
                    line, col, _ = _mark(event.start_mark)
                    sink.add(line, col, f"nesting deeper than {MAX_DEPTH} levels", "yaml.too-deep")
                    raise _Abort
                if event.tag is not None and event.tag not in (
                    "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "!"):
                    line, col, _ = _mark(event.start_mark)
                    sink.add(line, col, f"unsupported YAML tag {event.tag!r}", "yaml.tag")
                    ok = False
                kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
                pos = _pos(event)
                frame = _Frame(kind, {} if kind == "map" else [], pos, event.anchor, depth)
                if event.anchor is not None:
                    anchors[event.anchor] = None  # in progress: aliasing it is recursion
                stack.append(frame)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                frame.pos.end_line, frame.pos.end_col, frame.pos.end_index = _mark(event.end_mark)
                if frame.kind == "map":
                    _apply_merges(frame)
                register(frame.anchor, frame.value, frame.pos)
                attach(frame.value, frame.pos)
            elif isinstance(event, yaml.AliasEvent):
                line, col, _ = _mark(event.start_mark)
                target = anchors.get(event.anchor or "", ...)
                if target is ...:
                    sink.add(line, col, f"undefined alias *{event.anchor}", "yaml.undefined-alias")
                    raise _Abort
                if target is None:
                    sink.add(line, col, f"alias *{event.anchor} refers to itself",
                             "yaml.recursive-alias")
                    raise _Abort
                value, pos = target
                count(pos.count, event)
                attach(copy.deepcopy(value), _alias_pos(pos, event))
    except _Abort:
        return Loaded(None, Positions(None), False)
    if root is None or root[0] is None:
        line, col = (root[1].line, root[1].col) if root is not None else (1, 1)
        sink.add(line, col, "the file is empty; a flow needs at least `documents:`",
                 "flow.empty")
        return Loaded(None, Positions(None), False)
    return Loaded(root[0], Positions(root[1]), ok)


def _alias_pos(target: Pos, event: Any) -> Pos:
    """The alias's own position, sharing the anchored node's subtree."""
    line, col, index = _mark(event.start_mark)
    end_line, end_col, end_index = _mark(event.end_mark)
    return Pos(line, col, index, end_line, end_col, end_index, target.style, target.raw,
               target.bool_like, target.children, target.keys, target.count)


def _apply_merges(frame: _Frame) -> None:
    """``<<: *base`` / ``<<: [*a, *b]``: add keys the mapping does not set itself."""
    for value, pos in frame.merges:
        sources = [(value, pos)] if isinstance(value, dict) else [
            (item, pos.children[i]) for i, item in enumerate(value)]
        for source, source_pos in sources:
            for key, item in source.items():
                if key in frame.value:
                    continue
                frame.value[key] = item
                frame.pos.children[key] = source_pos.children[key]
                frame.pos.keys[key] = source_pos.keys[key]
