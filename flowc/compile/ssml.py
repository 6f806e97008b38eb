"""Inline SSML (``Speak: {ssml: ...}``) -> checked model elements.

The markup is parsed as an XML fragment; tags, attributes and nesting are checked
against ``catalog.SSML_TAGS``; text, tails and attribute values may hold templates.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from flowc.compile.catalog import SPEAK_SSML_CHILDREN, SSML_TAGS
from flowc.model import Element, Value

_XML_NS = "{http://www.w3.org/XML/1998/namespace}"


@dataclass(frozen=True)
class SsmlIssue:
    """A problem in SSML markup: message, code, and a word or line to point at."""

    message: str
    code: str
    needle: str | None = None
    line: int = 1


ValueFactory = Callable[[str], Value]


def parse(
    markup: str, value: ValueFactory
) -> tuple[Value | None, tuple[Element, ...], list[SsmlIssue]]:
    """(leading text, child elements, issues) for the SSML ``markup`` of one Speak."""
    wrapped = f"<speak>{markup}</speak>"
    try:
        root = ET.fromstring(wrapped)
    except ET.ParseError as exc:
        line, col = exc.position
        message = re.sub(r": line \d+, column \d+$", "", str(exc))
        return None, (), [SsmlIssue(f"SSML is not well-formed: {message} (line {line}, "
                                    f"column {col - (7 if line == 1 else 0)})", "ssml.syntax",
                                    line=line)]
    issues: list[SsmlIssue] = []
    children = tuple(_convert(child, "Speak", SPEAK_SSML_CHILDREN, value, issues) for child in root)
    text = value(root.text) if root.text else None
    return text, children, issues


def _convert(node: ET.Element, parent: str, allowed: tuple[str, ...], value: ValueFactory,
             issues: list[SsmlIssue]) -> Element:
    tag = node.tag
    spec = SSML_TAGS.get(tag)
    if spec is None:
        issues.append(SsmlIssue(f"unknown SSML tag <{tag}>; Speak supports "
                                + ", ".join(SSML_TAGS), "ssml.unknown-tag", needle=tag))
    elif tag not in allowed:
        issues.append(SsmlIssue(f"<{tag}> is not allowed inside <{parent}>", "ssml.nesting",
                                needle=tag))
    attributes: list[tuple[str, Value]] = []
    given = {(("xml:" + k[len(_XML_NS):]) if k.startswith(_XML_NS) else k): v
             for k, v in node.attrib.items()}
    if spec is not None:
        names = [a.name for a in spec.attributes]
        for name in given:
            if name not in names:
                issues.append(SsmlIssue(f"<{tag}> has no attribute {name!r}"
                                        + (f" (allowed: {', '.join(names)})" if names else ""),
                                        "ssml.unknown-attribute", needle=name))
        for attr in spec.attributes:
            raw = given.get(attr.name)
            if raw is None:
                if attr.required:
                    issues.append(SsmlIssue(f"<{tag}> needs {attr.name!r}",
                                            "ssml.required", needle=tag))
                continue
            templated = "{{" in raw or "{%" in raw
            if not templated and attr.enum and raw not in attr.enum:
                issues.append(SsmlIssue(f"<{tag} {attr.name}>: {raw!r} is not one of "
                                        + ", ".join(attr.enum), "ssml.attribute", needle=raw))
            elif not templated and attr.pattern and not re.fullmatch(attr.pattern, raw):
                issues.append(SsmlIssue(f"<{tag} {attr.name}>: {raw!r} is not valid",
                                        "ssml.attribute", needle=raw))
            attributes.append((attr.name, value(raw)))
    child_allowed = spec.children if spec is not None else ()
    children = tuple(_convert(c, tag, child_allowed, value, issues) for c in node)
    if spec is not None and spec.content == "none" and (node.text or children):
        issues.append(SsmlIssue(f"<{tag}> must be empty", "ssml.nesting", needle=tag))
    return Element(
        tag=tag,
        attributes=tuple(attributes),
        text=value(node.text) if node.text else None,
        children=children,
        tail=value(node.tail) if node.tail else None,
    )
