"""The catalog matches what the installed plivo SDK emits, element by element."""

from __future__ import annotations

import inspect
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from plivo import plivoxml

from flowc.compile.catalog import (
    ELEMENTS,
    RESPONSE_CHILDREN,
    SPEAK_SSML_CHILDREN,
    SSML_TAGS,
    AttributeSpec,
    ElementSpec,
)
from tests.compile._sdk import SDK_TEXT_BOOLEANS, SDK_UNSUPPORTED, XML_LANG

ALL = {**ELEMENTS, **SSML_TAGS}


SAMPLES = {"digitEndTimeout": "5", "speechEndTimeout": "5"}
"""Values the SDK can build where the catalog's default ('auto') is not int()-able."""


def sample_value(attr: AttributeSpec) -> Any:
    """A value the SDK accepts and that the catalog says Plivo accepts."""
    if attr.name in SAMPLES:
        return SAMPLES[attr.name]
    if attr.type == "boolean":
        return not attr.default if isinstance(attr.default, bool) else True
    if attr.type == "integer":
        if attr.minimum is not None:
            return int(attr.minimum)
        return 7
    if attr.type == "url":
        return "https://example.com/x"
    if attr.enum:
        return attr.enum[-1]
    if attr.default is not None:
        return attr.default
    return "v1"


def build_all(spec: ElementSpec) -> Any:
    """The SDK element of ``spec`` with every SDK-supported attribute set."""
    cls = getattr(plivoxml, spec.sdk_class)
    kwargs = {a.sdk_kwarg: sample_value(a) for a in spec.attributes if a.sdk_kwarg}
    if spec.content != "none":
        kwargs["content"] = "wss://example.com/s" if spec.name == "Stream" else "1234"
    return cls(**kwargs)


def emitted_names(element: Any) -> list[str]:
    xml = ET.fromstring(element.to_string(pretty=False))
    return ["xml:lang" if k == XML_LANG else k for k in xml.attrib]


@pytest.mark.parametrize("name", sorted(ALL))
def test_emission_order_matches_sdk(name: str) -> None:
    spec = ALL[name]
    expected = [a.name for a in spec.attributes if (name, a.name) not in SDK_UNSUPPORTED]
    assert emitted_names(build_all(spec)) == expected


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_sdk_kwarg_is_catalogued(name: str) -> None:
    spec = ALL[name]
    cls = getattr(plivoxml, spec.sdk_class)
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "content"}
    assert params == {a.sdk_kwarg for a in spec.attributes if a.sdk_kwarg}


@pytest.mark.parametrize("name", sorted(ALL))
def test_always_emit_matches_sdk_defaults(name: str) -> None:
    """Attributes the SDK emits when unset are exactly the always_emit ones (+ Stream contentType,
    which flowc always emits because Plivo's docs disagree on its default)."""
    spec = ALL[name]
    cls = getattr(plivoxml, spec.sdk_class)
    kwargs: dict[str, Any] = {a.sdk_kwarg: sample_value(a) for a in spec.attributes
                              if a.required and a.sdk_kwarg}
    if spec.content != "none":
        kwargs["content"] = "x"
    xml = ET.fromstring(cls(**kwargs).to_string(pretty=False))
    required = {a.name for a in spec.attributes if a.required}
    attrib = {("xml:lang" if k == XML_LANG else k): v for k, v in xml.attrib.items()}
    emitted = {k: v for k, v in attrib.items() if k not in required}
    expected = {a.name: a for a in spec.attributes if a.always_emit and a.sdk_kwarg}
    if name == "Stream":
        expected.pop("contentType")
    assert set(emitted) == set(expected)
    for attr_name, value in emitted.items():
        default = expected[attr_name].default
        assert value == (str(default).lower() if isinstance(default, bool) else str(default))


def test_nesting_matches_sdk() -> None:
    assert set(RESPONSE_CHILDREN) == set(plivoxml.ResponseElement._nestable)
    for name, spec in ELEMENTS.items():
        sdk_children = set(getattr(plivoxml, spec.sdk_class)._nestable)
        if spec.ssml:
            assert set(SPEAK_SSML_CHILDREN) == sdk_children - {"cont"}
            continue
        # Docs allow only Speak and Play inside GetDigits/GetInput; the SDK adds Wait.
        extra = {"Wait"} if name in ("GetDigits", "GetInput") else set()
        assert set(spec.children) == sdk_children - extra, name
    for name, spec in SSML_TAGS.items():
        assert set(spec.children) == set(getattr(plivoxml, spec.sdk_class)._nestable), name


def test_catalog_is_self_consistent() -> None:
    for name, spec in ALL.items():
        assert spec.name == name
        names = [a.name for a in spec.attributes]
        assert len(names) == len(set(names)), name
        for child in spec.children:
            assert child in ALL, (name, child)
        for attr in spec.attributes:
            if attr.pattern is not None:
                re.compile(attr.pattern)
                if isinstance(attr.default, str):
                    assert re.fullmatch(attr.pattern, attr.default), (name, attr.name)
            if attr.default is not None and attr.enum and attr.type != "url":
                assert attr.default in attr.enum, (name, attr.name)
            if isinstance(attr.default, int) and not isinstance(attr.default, bool):
                assert attr.minimum is None or attr.default >= attr.minimum
                assert attr.maximum is None or attr.default <= attr.maximum
            if attr.sdk_kwarg == "":
                assert (name, attr.name) in SDK_UNSUPPORTED
    for verb in RESPONSE_CHILDREN:
        assert verb in ELEMENTS
    assert {"Number", "User"} <= set(ELEMENTS) - set(RESPONSE_CHILDREN)


def test_sdk_gap_is_real() -> None:
    """The SDK still cannot build noiseCancellation (else the catalog should map it)."""
    with pytest.raises(TypeError):
        plivoxml.StreamElement("wss://x/y", noiseCancellation=True)


def test_sdk_text_booleans_are_exactly_the_quirky_ones() -> None:
    """The SDK emits "True" for these booleans, so the rebuilder passes them as text."""
    quirky = set()
    for name, spec in ELEMENTS.items():
        for attr in spec.attributes:
            if attr.type != "boolean" or not attr.sdk_kwarg:
                continue
            kwargs: dict[str, Any] = {attr.sdk_kwarg: True}
            if spec.content != "none":
                kwargs["content"] = "x"
            if name == "MultiPartyCall":
                kwargs["role"] = "agent"
            if getattr(plivoxml, spec.sdk_class)(**kwargs).to_dict()[attr.name] != "true":
                quirky.add((name, attr.name))
    assert quirky == SDK_TEXT_BOOLEANS
