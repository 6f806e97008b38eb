"""The compiled model: routes, streams, attribute order, defaults, normalization."""

from __future__ import annotations

from flowc.compile import compile_file
from flowc.compile.catalog import ELEMENTS
from flowc.model import RouteRef
from tests.compile._util import BASE, codes, compile_ok, compile_yaml, render


def test_references_become_route_refs_and_absolute_urls() -> None:
    flow = compile_ok("""
        flow: support
        documents:
          answer:
            - GetInput:
                action: "#menu"
                inputType: dtmf
                steps:
                  - Speak: Press 1.
          menu:
            - Redirect: "#answer"
    """)
    get_input = flow.answer.root.children[0]
    assert get_input.attributes[0] == ("action", RouteRef("document", "/flows/support/menu"))
    assert flow.documents["menu"].path == "/flows/support/menu"
    assert render(flow, "menu") == (
        f"<Response><Redirect>{BASE}/flows/support/answer</Redirect></Response>")


def test_stream_without_url_is_a_flowc_route() -> None:
    flow = compile_ok("""
        flow: agent
        documents:
          answer:
            - Stream:
                bidirectional: true
                keepCallAlive: true
                statusCallbackUrl: "#stream-status"
                pipeline:
                  - agent: {greeting: hi}
            - Stream:
                audioTrack: both
                keepCallAlive: true
    """)
    assert list(flow.streams) == ["answer-1", "answer-2"]
    first = flow.streams["answer-1"]
    assert first.path == "/flows/agent/streams/answer-1"
    assert first.content_type == "audio/x-mulaw;rate=8000"
    assert (first.bidirectional, first.audio_track, first.keep_call_alive) == (
        True, "inbound", True)
    assert first.stream_timeout == 86400
    assert [s.processor for s in first.pipeline] == ["agent"]
    assert flow.status_paths == ("/flows/agent/stream-status",)
    xml = render(flow)
    assert (
        '<Stream bidirectional="true" statusCallbackUrl="https://voice.example.com/flows/agent/'
        'stream-status" contentType="audio/x-mulaw;rate=8000" keepCallAlive="true">'
        "wss://voice.example.com/flows/agent/streams/answer-1</Stream>") in xml
    assert flow.documents["answer"].render({}, "http://localhost:8080").count("ws://localhost") == 2


def test_external_stream_keeps_its_url() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Stream:
                text: "wss://example.com/ws?a=1&b=2"
                keepCallAlive: true
    """)
    assert flow.streams == {}
    assert "wss://example.com/ws?a=1&amp;b=2</Stream>" in render(flow)


def test_attribute_order_follows_the_catalog_not_the_file() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Record:
                recordChannelType: mono
                maxLength: 30
                action: https://example.com/rec
                fileFormat: wav
    """)
    names = [name for name, _ in flow.answer.root.children[0].attributes]
    order = [a.name for a in ELEMENTS["Record"].attributes]
    assert names == sorted(names, key=order.index)
    assert names == ["action", "fileFormat", "maxLength", "recordChannelType"]


def test_multipartycall_emits_sdk_defaults_and_normalizes_case() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - MultiPartyCall:
                text: room-1
                role: Agent
    """)
    element = flow.answer.root.children[0]
    attributes = dict(element.attributes)
    assert attributes["role"] == "agent"
    always = [a.name for a in ELEMENTS["MultiPartyCall"].attributes if a.always_emit]
    assert all(name in attributes for name in always)
    assert attributes["maxDuration"] == "14400"
    assert attributes["coachMode"] == "true"


def test_numbers_keep_their_source_text() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Dial:
                callerId: +14155550100
                steps:
                  - Number: +14155550123
                  - Number: 0044207946
            - DTMF: 0123
    """)
    xml = render(flow)
    assert 'callerId="+14155550100"' in xml
    assert "<Number>+14155550123</Number><Number>0044207946</Number>" in xml
    assert "<DTMF>0123</DTMF>" in xml


def test_yes_no_where_boolean_expected_warns_and_is_read_as_boolean() -> None:
    result = compile_yaml("""
        documents:
          answer:
            - Wait:
                length: 2
                beep: yes
                silence: off
    """)
    assert [(d.severity, d.code) for d in result.diagnostics] == [
        ("warning", "yaml.boolean-like"), ("warning", "yaml.boolean-like")]
    assert result.flow is not None
    assert render(result.flow) == (
        '<Response><Wait length="2" silence="false" beep="true"/></Response>')


def test_yes_stays_a_string_elsewhere() -> None:
    flow = compile_ok("""
        vars: {answer: yes}
        documents:
          answer:
            - Speak: "{{ answer }} / {{ answer is string }}"
            - Speak: no
    """)
    assert render(flow) == "<Response><Speak>yes / True</Speak><Speak>no</Speak></Response>"


def test_quoted_false_is_an_error_not_true() -> None:
    assert codes("""
        documents:
          answer:
            - Stream:
                keepCallAlive: "false"
                bidirectional: true
    """) == [(5, 24, "schema.type")]


def test_ssml_renders_with_catalog_attribute_order() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Speak:
                voice: Polly.Joanna
                ssml: >-
                  Hello <break strength="weak" time="500ms"/> {{ From }}
                  <prosody pitch="high" rate="slow">slowly</prosody>.
    """)
    xml = render(flow, From="<me>")
    assert xml == (
        '<Response><Speak voice="Polly.Joanna">Hello <break strength="weak" time="500ms"/>'
        ' &lt;me&gt; <prosody rate="slow" pitch="high">slowly</prosody>.</Speak></Response>')


def test_ssml_needs_polly_voice_warning() -> None:
    assert codes("""
        documents:
          answer:
            - Speak:
                ssml: Hi <break time="1s"/>
                voice: WOMAN
    """) == [(6, 16, "speak.ssml-voice")]


def test_version_and_name_defaults(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "My Support_Line.yaml"
    path.write_text("documents:\n  answer:\n    - Hangup: {}\n", encoding="utf-8")
    result = compile_file(path)
    assert result.flow is not None
    assert result.flow.name == "my-support-line"
    assert len(result.flow.version) == 12
    again = compile_file(path)
    assert again.flow is not None and again.flow.version == result.flow.version


def test_explicit_version_stays_a_string() -> None:
    flow = compile_ok("""
        version: 2026-11-28
        documents:
          answer:
            - Hangup: {}
    """)
    assert flow.version == "2026-11-28"


def test_merge_keys_share_attributes() -> None:
    flow = compile_ok("""
        documents:
          answer:
            - Speak: &voice {voice: MAN, language: en-GB, text: One}
            - Speak: {<<: *voice, text: Two}
    """)
    assert render(flow) == (
        '<Response><Speak voice="MAN" language="en-GB">One</Speak>'
        '<Speak voice="MAN" language="en-GB">Two</Speak></Response>')


def test_warnings_do_not_block_the_flow() -> None:
    result = compile_yaml("""
        documents:
          answer:
            - Hangup: {}
          spare:
            - Speak: unused
    """)
    assert [d.code for d in result.diagnostics] == ["ref.unreachable"]
    assert result.ok and result.flow is not None


def test_diagnostics_are_sorted_and_complete() -> None:
    result = compile_yaml("""
        documents:
          answer:
            - Speek: hi
            - Stream:
                audioTrack: both
                bidirectional: true
                keepCallAlive: true
            - Wait: {length: 0}
    """)
    got = [(d.line, d.code) for d in result.diagnostics]
    assert got == sorted(got)
    assert {c for _, c in got} == {"schema.unknown-key", "stream.bidirectional-track",
                                   "schema.range"}


def test_internal_errors_become_diagnostics(monkeypatch: object) -> None:
    import pytest

    from flowc.compile import compiler

    assert isinstance(monkeypatch, pytest.MonkeyPatch)

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(compiler.Compiler, "check_refs", boom)
    result = compile_yaml("documents:\n  answer:\n    - Hangup: {}\n")
    assert [d.code for d in result.diagnostics] == ["internal"]
    assert "kaboom" in result.diagnostics[0].message


def test_default_version_follows_source_and_values() -> None:
    text = "documents:\n  answer:\n    - Speak: '{{ who }}'\n"
    a = compile_ok(text, variables={"who": "a"})
    b = compile_ok(text, variables={"who": "b"})
    again = compile_ok(text, variables={"who": "a"})
    assert a.version == again.version != b.version
