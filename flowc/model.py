"""The compiled flow: what the compile wing produces and the run wing serves.

Neither wing owns this module; both import it. A :class:`CompiledFlow` holds named
:class:`Document` trees whose values are constants, Jinja templates (rendered per
request with the parameters Plivo posts) or references to other routes of the same
flow (turned into absolute URLs with the public base URL at render time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# ---------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Template:
    """A Jinja template (already compiled, sandboxed) and its source text."""

    source: str
    render: Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled ``if:`` expression; true when the step is emitted."""

    source: str
    evaluate: Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class RouteRef:
    """A reference to one of flowc's own routes, absolute only once the base URL is known.

    ``kind`` ``document`` renders as ``{base}{path}`` (http/https); ``stream`` renders
    with the WebSocket scheme (``ws``/``wss``).
    """

    kind: Literal["document", "stream"]
    path: str


Value = str | Template | RouteRef


def render_value(value: Value, context: Mapping[str, Any], base_url: str) -> str:
    """Render one attribute or text value to a plain (unescaped) string."""
    if isinstance(value, str):
        return value
    if isinstance(value, Template):
        return value.render(context)
    base = base_url.rstrip("/")
    if value.kind == "stream":
        if base.startswith("https://"):
            base = "wss://" + base[len("https://"):]
        elif base.startswith("http://"):
            base = "ws://" + base[len("http://"):]
    return base + value.path


# --------------------------------------------------------------------------- elements


@dataclass(frozen=True, slots=True)
class Element:
    """One XML element: tag, attributes in emission order, text, children, tail text.

    ``tail`` is text that follows the element inside its parent (SSML mixed content).
    ``condition`` drops the element (and its children) when false for a request.
    """

    tag: str
    attributes: tuple[tuple[str, Value], ...] = ()
    text: Value | None = None
    children: tuple[Element, ...] = ()
    tail: Value | None = None
    condition: Condition | None = None


_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def escape_text(text: str) -> str:
    """Escape character data for XML."""
    return text.translate(_TEXT_ESCAPES)


def escape_attribute(text: str) -> str:
    """Escape a double-quoted attribute value for XML."""
    return text.translate(_ATTR_ESCAPES)


@dataclass(frozen=True)
class Document:
    """A named Plivo XML document (``answer``, ``menu``...) served at ``path``."""

    name: str
    path: str
    root: Element

    def render(
        self,
        context: Mapping[str, Any],
        base_url: str,
        *,
        pretty: bool = True,
    ) -> str:
        """Render the XML for one request.

        ``context`` holds template variables: the flow's ``vars``, the request
        parameters Plivo posted (``From``, ``Digits``...). Every value is escaped.
        """
        out: list[str] = []
        _render_element(self.root, context, base_url, out, 0 if pretty else None)
        return "".join(out)


def _has_mixed_content(element: Element) -> bool:
    return (element.text is not None and bool(element.children)) or any(
        child.tail is not None for child in element.children
    )


def _render_element(
    element: Element,
    context: Mapping[str, Any],
    base_url: str,
    out: list[str],
    indent: int | None,
) -> None:
    out.append("<" + element.tag)
    for name, value in element.attributes:
        out.append(f' {name}="{escape_attribute(render_value(value, context, base_url))}"')
    children = [c for c in element.children if c.condition is None or c.condition.evaluate(context)]
    text = None if element.text is None else render_value(element.text, context, base_url)
    if not children and not text:
        out.append("/>")
        return
    out.append(">")
    mixed = _has_mixed_content(element)
    if text:
        out.append(escape_text(text))
    child_indent = None if indent is None or mixed else indent + 1
    for child in children:
        if child_indent is not None:
            out.append("\n" + "  " * child_indent)
        _render_element(child, context, base_url, out, child_indent)
        if child.tail is not None:
            out.append(escape_text(render_value(child.tail, context, base_url)))
    if child_indent is not None and children and indent is not None:
        out.append("\n" + "  " * indent)
    out.append(f"</{element.tag}>")


# ----------------------------------------------------------------------------- flows


def split_content_type(content_type: str) -> tuple[str, int]:
    """``audio/x-l16;rate=16000`` -> (``audio/x-l16``, 16000)."""
    return content_type.split(";", 1)[0], int(content_type.rsplit("rate=", 1)[1])


@dataclass(frozen=True)
class PipelineStep:
    """One ``pipeline:`` entry: the processor name and its validated settings."""

    processor: str
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamRoute:
    """A ``<Stream>`` whose WebSocket flowc serves, with the pipeline that runs on it."""

    key: str
    """Stable id within the flow (``answer-1``); the route is ``path``."""
    path: str
    document: str
    content_type: str
    """``audio/x-mulaw;rate=8000``, ``audio/x-l16;rate=8000`` or ``audio/x-l16;rate=16000``."""
    bidirectional: bool
    audio_track: str
    keep_call_alive: bool
    stream_timeout: int
    pipeline: tuple[PipelineStep, ...]
    extra_headers: str | None = None

    @property
    def encoding(self) -> str:
        """``audio/x-mulaw`` or ``audio/x-l16``."""
        return split_content_type(self.content_type)[0]

    @property
    def sample_rate(self) -> int:
        """8000 or 16000, from ``contentType``."""
        return split_content_type(self.content_type)[1]


@dataclass(frozen=True)
class CompiledFlow:
    """A validated flow, ready to render and to serve."""

    name: str
    version: str
    """The flow's ``version:`` or a short content hash."""
    source: str
    documents: Mapping[str, Document]
    streams: Mapping[str, StreamRoute]
    variables: Mapping[str, Any] = field(default_factory=dict)
    status_paths: tuple[str, ...] = ()
    """Paths of stream status callbacks that flowc serves for this flow."""

    @property
    def answer(self) -> Document:
        """The entry document Plivo's answer URL points at."""
        return self.documents["answer"]

    def stream_by_path(self, path: str) -> StreamRoute | None:
        """The stream served at ``path``, if any."""
        for stream in self.streams.values():
            if stream.path == path:
                return stream
        return None


# ---------------------------------------------------------------------------- routes
# Where flowc serve exposes each flow; the compiler writes these paths into the XML.


def document_path(flow: str, document: str) -> str:
    """Path of a named document: ``/flows/{flow}/{document}``."""
    return f"/flows/{flow}/{document}"


def stream_path(flow: str, key: str) -> str:
    """Path of a stream's WebSocket: ``/flows/{flow}/streams/{key}``."""
    return f"/flows/{flow}/streams/{key}"


def status_path(flow: str) -> str:
    """Path of the stream status callback: ``/flows/{flow}/stream-status``."""
    return f"/flows/{flow}/stream-status"
