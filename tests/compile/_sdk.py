"""Build Plivo XML with the ``plivo`` SDK from flowc's catalog (test helper).

``sdk_element`` builds one SDK element from Plivo-spelled attributes via the catalog's
``sdk_kwarg``; ``rebuild_with_sdk`` reconstructs a whole rendered document with the SDK,
so conformance tests can compare flowc's output with what the SDK emits.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from plivo import plivoxml
from plivo.xml import PlivoXMLElement

from flowc.compile.catalog import ELEMENTS, SSML_TAGS, AttributeSpec, ElementSpec

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

SDK_UNSUPPORTED = {("Stream", "noiseCancellation"), ("Stream", "noiseCancellationLevel")}
"""Attributes Plivo documents but the SDK cannot build (compared separately)."""


def spec_for(tag: str) -> ElementSpec:
    """The catalog entry of a verb or SSML tag."""
    spec = ELEMENTS.get(tag) or SSML_TAGS.get(tag)
    if spec is None:
        raise KeyError(f"{tag} is not in the catalog")
    return spec


SDK_TEXT_BOOLEANS = {("Conference", "recordWhenAlone")}
"""Booleans whose SDK setter does ``str(value)`` (True -> "True"): SDK users pass text."""


def to_python(attr: AttributeSpec, text: str, tag: str = "") -> Any:
    """Convert an attribute's XML text to the Python value the SDK expects."""
    if attr.type == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"{attr.name}={text!r} is not an XML boolean")
        return text if (tag, attr.name) in SDK_TEXT_BOOLEANS else text == "true"
    if attr.type == "integer":
        return int(text)
    return text


def sdk_element(tag: str, attributes: dict[str, str], text: str | None) -> PlivoXMLElement:
    """One SDK element with the given XML attributes (Plivo spelling) and text."""
    spec = spec_for(tag)
    cls = getattr(plivoxml, spec.sdk_class)
    kwargs: dict[str, Any] = {}
    for name, value in attributes.items():
        attr = spec.attribute(name)
        if attr is None:
            raise KeyError(f"{tag} has no attribute {name} in the catalog")
        if (tag, name) in SDK_UNSUPPORTED:
            continue
        kwargs[attr.sdk_kwarg] = to_python(attr, value, tag)
    if spec.content != "none":
        kwargs["content"] = text or ""
    return cls(**kwargs)


def _xml_attributes(element: ET.Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in element.attrib.items():
        out["xml:lang" if key == XML_LANG else key] = value
    return out


def _build(element: ET.Element) -> PlivoXMLElement:
    """SDK element for ``element``; SSML tail text becomes the SDK's ``<cont>``."""
    sdk = sdk_element(element.tag, _xml_attributes(element), element.text)
    for child in element:
        sdk.add(_build(child))
        if child.tail and child.tail.strip():
            if "cont" not in getattr(sdk, "_nestable", ()):
                raise ValueError(f"the SDK cannot put text after <{child.tag}> in <{element.tag}>")
            sdk.add(plivoxml.ContElement(child.tail))
    return sdk


def rebuild_with_sdk(xml_text: str) -> str:
    """Rebuild a rendered ``<Response>`` document with the SDK and serialize it."""
    root = ET.fromstring(xml_text)
    if root.tag != "Response":
        raise ValueError(f"root is {root.tag}, not Response")
    response = plivoxml.ResponseElement()
    for child in root:
        response.add(_build(child))
    return str(response.to_string(pretty=True))


def strip_unsupported(xml_text: str) -> str:
    """``xml_text`` without the attributes the SDK cannot build."""
    root = ET.fromstring(xml_text)
    for element in root.iter():
        for tag, name in SDK_UNSUPPORTED:
            if element.tag == tag:
                element.attrib.pop(name, None)
    return ET.tostring(root, encoding="unicode")


def unsupported_last(xml_text: str) -> bool:
    """True when SDK-unsupported attributes come after all SDK ones (catalog order)."""
    for element in ET.fromstring(xml_text).iter():
        names = list(element.attrib)
        flags = [(element.tag, n) in SDK_UNSUPPORTED for n in names]
        if flags != sorted(flags):
            return False
    return True


def canonical(xml_text: str) -> str:
    """C14N 2.0 form with surrounding whitespace of text removed (attributes sorted)."""
    return ET.canonicalize(xml_text, strip_text=True)


def attribute_orders(xml_text: str) -> list[tuple[str, list[str]]]:
    """Each element's tag and attribute names in document order (C14N sorts them)."""
    return [(e.tag, list(e.attrib)) for e in ET.fromstring(xml_text).iter()]
