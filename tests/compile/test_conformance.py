"""SDK conformance: flowc's XML equals what the ``plivo`` SDK builds for the same tree,
and flowc rejects what the SDK accepts but Plivo rejects (plivo.md §1.4, §2.1).

The rebuilder (``tests/compile/_sdk.py``) parses flowc's rendered XML, builds the same
tree with ``plivo.plivoxml`` classes (kwargs from the catalog's ``sdk_kwarg``), and
serializes it with the SDK. Both sides are compared after C14N (text whitespace
stripped) and, separately, by attribute order, which C14N would hide. Stream's
``noiseCancellation*`` cannot be built by the SDK, so they are removed from flowc's
side before comparing and checked on their own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from plivo import plivoxml

import flowc.compile as compile_api
from tests.compile._examples import (
    EXAMPLES,
    PUBLIC_URL,
    compile_example,
    example_host,
    render_documents,
)
from tests.compile._sdk import (
    attribute_orders,
    canonical,
    rebuild_with_sdk,
    strip_unsupported,
    unsupported_last,
)

needs_compiler = pytest.mark.skipif(
    not hasattr(compile_api, "compile_text"), reason="flowc.compile.compile_text not built yet")


def assert_sdk_conformant(xml: str) -> None:
    """flowc's document equals the SDK's rebuild of it (content and attribute order)."""
    assert unsupported_last(xml), "noiseCancellation* must follow the SDK's attributes"
    ours = strip_unsupported(xml)
    sdk = rebuild_with_sdk(xml)
    assert canonical(ours) == canonical(sdk)
    assert attribute_orders(ours) == attribute_orders(sdk)


def compile_ok(text: str, filename: str = "flow.yaml") -> Any:
    result = compile_api.compile_text(text, filename=filename, host=example_host())
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert errors == [], "\n".join(d.headline() for d in errors)
    assert result.flow is not None
    return result.flow


# ------------------------------------------------- the rebuilder itself

def _sdk_sample() -> str:
    """A document built with the SDK directly (plivo.md §1.4 plus nesting and SSML)."""
    r = plivoxml.ResponseElement()
    r.add(plivoxml.SpeakElement("Connecting you now", voice="WOMAN", language="en-US"))
    speak = plivoxml.SpeakElement("Hello", voice="Polly.Joanna")
    speak.add(plivoxml.BreakElement(time="300ms"))
    speak.add(plivoxml.LangElement("bonjour", xmllang="fr-FR"))
    r.add(speak)
    digits = plivoxml.GetDigitsElement(action="https://x.example.com/d", num_digits=1)
    digits.add(plivoxml.SpeakElement("Press 1 & go"))
    r.add(digits)
    dial = plivoxml.DialElement(timeout=20)
    dial.add(plivoxml.NumberElement("14155550100", send_digits="1w2"))
    r.add(dial)
    r.add(plivoxml.MultiPartyCallElement("room", role="agent"))
    r.add(plivoxml.StreamElement(
        "wss://example.com/ws?flow=main&lang=en", bidirectional=True, audioTrack="inbound",
        streamTimeout=3600, statusCallbackUrl="https://example.com/stream-status",
        statusCallbackMethod="POST", contentType="audio/x-mulaw;rate=8000",
        extraHeaders="flowId=main,tenant=acme", keepCallAlive=True))
    r.add(plivoxml.HangupElement())
    return str(r.to_string())


def test_rebuilder_round_trips_sdk_output() -> None:
    sample = _sdk_sample()
    assert rebuild_with_sdk(sample) == sample
    assert_sdk_conformant(sample)


@pytest.mark.parametrize("mutate, match", [
    (lambda x: x.replace('voice="WOMAN" language="en-US"', 'language="en-US" voice="WOMAN"'),
     "order"),
    (lambda x: x.replace('bidirectional="true"', 'bidirectional="True"'), "boolean"),
    (lambda x: x.replace(' maxParticipants="10"', ""), "content"),
    (lambda x: x.replace("<Stream ", '<Stream noiseCancellation="true" '), "order"),
])
def test_rebuilder_catches_divergence(mutate: Callable[[str], str], match: str) -> None:
    """Each kind of divergence from the SDK's output fails the comparison."""
    mutated = mutate(_sdk_sample())
    assert mutated != _sdk_sample()
    with pytest.raises((AssertionError, ValueError)):
        assert_sdk_conformant(mutated)


# ------------------------------------------------------------------ examples


@needs_compiler
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_documents_match_sdk(path: Path) -> None:
    flow, diagnostics = compile_example(path)
    assert flow is not None, "\n".join(d.headline() for d in diagnostics)
    for xml in render_documents(flow).values():
        assert_sdk_conformant(xml)


@needs_compiler
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_compact_equals_pretty(path: Path) -> None:
    flow, _ = compile_example(path)
    assert flow is not None
    pretty = render_documents(flow)
    compact = render_documents(flow, pretty=False)
    for name in pretty:
        assert "\n" not in compact[name]
        assert canonical(compact[name]) == canonical(pretty[name])


@needs_compiler
def test_noise_cancellation_is_emitted_after_sdk_attributes() -> None:
    path = next(p for p in EXAMPLES if p.stem == "voice-agent-noisy")
    flow, _ = compile_example(path)
    assert flow is not None
    stream = ET.fromstring(render_documents(flow)["answer"]).find("Stream")
    assert stream is not None
    names = list(stream.attrib)
    assert names[-2:] == ["noiseCancellation", "noiseCancellationLevel"]
    assert stream.get("noiseCancellation") == "true"
    assert stream.get("noiseCancellationLevel") == "75"


# ------------------------------------------------- every verb, most attributes

KITCHEN_SINK = """\
flow: kitchen-sink
version: "1"
vars:
  who: Tom & Jerry <3
documents:
  answer:
    - PreAnswer:
        steps:
          - Speak: {text: Ringing, voice: MAN, language: en-GB, loop: 2}
          - Play: "https://cdn.example.com/ring.mp3?a=1&b=2"
          - Wait: {length: 2}
          - DTMF: "12w#"
    - Speak:
        voice: Polly.Joanna
        language: en-US
        ssml: >-
          Hello<break strength="medium" time="300ms"/><emphasis level="strong">there</emphasis>
          <prosody volume="loud" rate="slow" pitch="+5%">slowly</prosody>
          <say-as interpret-as="digits">123</say-as><sub alias="W3C">w3</sub>
          <lang xml:lang="fr-FR">bonjour</lang><phoneme alphabet="ipa" ph="pi">pie</phoneme>
          <w role="amazon:VBD">read</w><p><s>One.</s><s>Two.</s></p>
    - Speak: "Hi {{ who }} from {{ From }}"
    - Play: {loop: 3, text: "https://cdn.example.com/a.wav"}
    - Wait: {length: 3, silence: true, minSilence: 500, beep: false}
    - GetDigits:
        action: "#next"
        method: GET
        timeout: 7
        digitTimeout: 3
        finishOnKey: "*"
        numDigits: 4
        retries: 2
        redirect: false
        playBeep: true
        validDigits: "123"
        invalidDigitsSound: https://cdn.example.com/bad.mp3
        log: false
        steps:
          - Speak: Enter your PIN.
          - Play: https://cdn.example.com/pin.mp3
    - GetInput:
        action: "#next"
        method: POST
        inputType: dtmf speech
        executionTimeout: 20
        digitEndTimeout: "3"
        speechEndTimeout: "4"
        finishOnKey: "#"
        numDigits: 6
        speechModel: phone_call
        hints: yes please,no thanks
        language: en-US
        interimSpeechResultsCallback: "#next"
        interimSpeechResultsCallbackMethod: GET
        log: true
        redirect: true
        profanityFilter: true
        steps:
          - Speak: Say something.
    - Record:
        action: "#next"
        method: GET
        fileFormat: wav
        redirect: false
        timeout: 10
        maxLength: 30
        playBeep: false
        finishOnKey: "#"
        recordSession: false
        startOnDialAnswer: false
        transcriptionType: auto
        transcriptionUrl: https://hooks.example.com/t
        transcriptionMethod: GET
        callbackUrl: https://hooks.example.com/r
        callbackMethod: GET
        recordChannelType: mono
    - Dial:
        action: "#next"
        method: POST
        hangupOnStar: true
        timeLimit: 600
        timeout: 20
        callerId: "14155550100"
        callerName: Acme Support
        confirmSound: https://hooks.example.com/confirm
        confirmTimeout: 10
        confirmKey: "5"
        dialMusic: real
        callbackUrl: https://hooks.example.com/dial
        callbackMethod: GET
        redirect: true
        digitsMatch: "123,*9"
        digitsMatchBLeg: "0#"
        sipHeaders: "team=blue,tier=2"
        steps:
          - Number: {text: "14155550101", sendDigits: "1w2", sendOnPreanswer: true}
          - User: {text: "sip:alice@phone.plivo.com", sendDigits: "9", sipHeaders: "a=1"}
    - Message: {src: "14155550100", dst: "14155550102", type: sms, text: "Call from {{ From }}"}
    - Conference:
        text: room-1
        muted: true
        enterSound: "beep:1"
        exitSound: "beep:2"
        startConferenceOnEnter: false
        endConferenceOnExit: true
        stayAlone: false
        waitSound: https://hooks.example.com/wait
        maxMembers: 5
        record: true
        recordFileFormat: wav
        timeLimit: 3600
        hangupOnStar: true
        callbackUrl: https://hooks.example.com/conf
        callbackMethod: POST
        digitsMatch: "1,2"
        floorEvent: true
        relayDTMF: false
        recordWhenAlone: true
    - MultiPartyCall:
        {text: mpc-1, role: customer, maxDuration: 600, waitTime: 30, coachMode: false}
    - Stream:
        text: "wss://media.example.com/ws?a=1&b=2"
        bidirectional: false
        audioTrack: both
        streamTimeout: 120
        statusCallbackUrl: https://hooks.example.com/s
        statusCallbackMethod: GET
        contentType: audio/x-mulaw;rate=8000
        extraHeaders: "a=1,b=2"
        keepCallAlive: false
    - Redirect: {text: "#next", method: GET}
    - Hangup: {reason: busy, schedule: 30}
  next:
    - Hangup: {}
"""


@needs_compiler
def test_kitchen_sink_matches_sdk() -> None:
    flow = compile_ok(KITCHEN_SINK, "kitchen-sink.yaml")
    context = {**flow.variables, "From": "14155550123", "To": "14155550199"}
    for document in flow.documents.values():
        for pretty in (True, False):
            xml = document.render(context, PUBLIC_URL, pretty=pretty)
            assert_sdk_conformant(xml)
    answer = flow.documents["answer"].render(context, PUBLIC_URL)
    root = ET.fromstring(answer)
    assert [child.tag for child in root] == [
        "PreAnswer", "Speak", "Speak", "Play", "Wait", "GetDigits", "GetInput", "Record",
        "Dial", "Message", "Conference", "MultiPartyCall", "Stream", "Redirect", "Hangup"]
    assert "Hi Tom &amp; Jerry &lt;3 from 14155550123" in answer
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text == f"{PUBLIC_URL}/flows/kitchen-sink/next"
    mpc = root.find("MultiPartyCall")
    assert mpc is not None and mpc.get("maxParticipants") == "10"  # SDK default emitted


# ------------------------------------- what the SDK accepts but Plivo rejects

FLOW_HEAD = 'flow: rejected\nversion: "1"\ndocuments:\n  answer:\n'


def _stream(**kw: Any) -> Any:
    content = kw.pop("content", "wss://media.example.com/ws")
    return plivoxml.StreamElement(content, **kw)


def _set_bidirectional_false() -> Any:
    element = plivoxml.StreamElement("wss://media.example.com/ws")
    element.set_bidirectional("false")
    return element


# name -> (flow steps with "# !" on the offending line(s), SDK build, what the SDK emits)
REJECTED: dict[str, tuple[str, Callable[[], Any], str]] = {
    "bidirectional-outbound": (
        "    - Stream:\n        text: wss://media.example.com/ws\n        bidirectional: true\n"
        "        audioTrack: outbound  # !\n        contentType: audio/x-mulaw;rate=8000\n",
        lambda: _stream(bidirectional=True, audioTrack="outbound"),
        'audioTrack="outbound"'),
    "bidirectional-both": (
        "    - Stream:\n        text: wss://media.example.com/ws\n        bidirectional: true\n"
        "        audioTrack: both  # !\n        contentType: audio/x-mulaw;rate=8000\n",
        lambda: _stream(bidirectional=True, audioTrack="both"),
        'audioTrack="both"'),
    "content-type-opus": (
        "    - Stream:\n        text: wss://media.example.com/ws\n"
        "        contentType: audio/opus  # !\n",
        lambda: _stream(contentType="audio/opus"),
        'contentType="audio/opus"'),
    "stream-timeout-negative": (
        "    - Stream:\n        text: wss://media.example.com/ws\n"
        "        contentType: audio/x-mulaw;rate=8000\n        streamTimeout: -5  # !\n",
        lambda: _stream(streamTimeout=-5),
        'streamTimeout="-5"'),
    "stream-timeout-text": (
        "    - Stream:\n        text: wss://media.example.com/ws\n"
        "        contentType: audio/x-mulaw;rate=8000\n        streamTimeout: abc  # !\n",
        lambda: _stream(streamTimeout="abc"),
        'streamTimeout="abc"'),
    "extra-headers-600-bytes": (
        "    - Stream:\n        text: wss://media.example.com/ws\n"
        "        contentType: audio/x-mulaw;rate=8000\n"
        f"        extraHeaders: {'k=' + 'v' * 598}  # !\n",
        lambda: _stream(extraHeaders="k=" + "v" * 598),
        "v" * 598),
    "extra-headers-spaces": (
        "    - Stream:\n        text: wss://media.example.com/ws\n"
        "        contentType: audio/x-mulaw;rate=8000\n"
        "        extraHeaders: user id=12  # !\n",
        lambda: _stream(extraHeaders="user id=12"),
        'extraHeaders="user id=12"'),
    "non-ws-url": (
        "    - Stream:\n        text: http://not-ws.example.com/  # !\n"
        "        contentType: audio/x-mulaw;rate=8000\n",
        lambda: _stream(content="http://not-ws.example.com/"),
        ">http://not-ws.example.com/<"),
    "bidirectional-string-false": (
        "    - Stream:\n        text: wss://media.example.com/ws\n"
        '        contentType: audio/x-mulaw;rate=8000\n        bidirectional: "false"  # !\n',
        _set_bidirectional_false,
        'bidirectional="true"'),
    "keep-call-alive-string-false": (
        "    - Stream:\n        text: wss://media.example.com/ws\n"
        '        contentType: audio/x-mulaw;rate=8000\n        keepCallAlive: "false"  # !\n',
        lambda: _stream().set_keepCallAlive("false"),
        'keepCallAlive="true"'),
    "wait-silence-string-false": (
        '    - Wait:\n        silence: "false"  # !\n',
        lambda: plivoxml.WaitElement(silence="false"),
        'silence="true"'),
    "getdigits-redirect-string-false": (
        '    - GetDigits:\n        action: https://x.example.com/d\n'
        '        redirect: "false"  # !\n',
        lambda: plivoxml.GetDigitsElement(action="https://x.example.com/d", redirect="false"),
        'redirect="true"'),
    "getinput-execution-timeout-range": (
        "    - GetInput:\n        action: https://x.example.com/i\n        inputType: dtmf\n"
        "        executionTimeout: 100  # !\n",
        lambda: plivoxml.GetInputElement(action="https://x.example.com/i", input_type="dtmf",
                                         execution_timeout=100),
        'executionTimeout="100"'),
    "getinput-without-action": (
        "    - GetInput:  # !\n        inputType: dtmf\n",
        lambda: plivoxml.GetInputElement(input_type="dtmf"),
        "<GetInput"),
    "getinput-digit-end-timeout-range": (
        "    - GetInput:\n        action: https://x.example.com/i\n        inputType: dtmf\n"
        '        digitEndTimeout: "11"  # !\n',
        lambda: plivoxml.GetInputElement(action="https://x.example.com/i", input_type="dtmf",
                                         digit_end_timeout=11),
        'digitEndTimeout="11"'),
    "getdigits-num-digits-zero": (
        "    - GetDigits:\n        action: https://x.example.com/d\n"
        "        numDigits: 0  # !\n",
        lambda: plivoxml.GetDigitsElement(action="https://x.example.com/d", num_digits=0),
        'numDigits="0"'),
    "record-max-length-zero": (
        "    - Record:\n        maxLength: 0  # !\n",
        lambda: plivoxml.RecordElement(max_length=0),
        'maxLength="0"'),
    "dial-caller-name-too-long": (
        "    - Dial:\n        callerName: " + "x" * 60 + "  # !\n"
        "        steps:\n          - Number: \"14155550100\"\n",
        lambda: plivoxml.DialElement(caller_name="x" * 60),
        "x" * 60),
    "speak-unknown-voice": (
        "    - Speak:\n        voice: ROBOT  # !\n        text: hi\n",
        lambda: plivoxml.SpeakElement("hi", voice="ROBOT"),
        'voice="ROBOT"'),
    "record-file-format": (
        "    - Record:\n        fileFormat: ogg  # !\n",
        lambda: plivoxml.RecordElement(file_format="ogg"),
        'fileFormat="ogg"'),
}


def _marked_lines(steps: str) -> set[int]:
    head_lines = FLOW_HEAD.count("\n")
    return {head_lines + i + 1 for i, line in enumerate(steps.splitlines()) if "# !" in line}


@needs_compiler
@pytest.mark.parametrize("case", sorted(REJECTED))
def test_sdk_accepts_what_flowc_rejects(case: str) -> None:
    steps, build, emitted = REJECTED[case]
    assert emitted in build().to_string(pretty=False)  # the SDK takes it silently

    result = compile_api.compile_text(FLOW_HEAD + steps, filename=f"{case}.yaml",
                                      host=example_host())
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert result.flow is None
    assert errors, f"{case}: no error"
    lines = _marked_lines(steps)
    assert any(d.line in lines for d in errors), (
        f"{case}: expected an error on line(s) {sorted(lines)}, got\n"
        + "\n".join(d.headline() for d in errors))


@needs_compiler
@pytest.mark.parametrize("level, ok", [(59, False), (60, True), (100, True), (101, False)])
def test_noise_cancellation_level_range(level: int, ok: bool) -> None:
    """Plivo's 60-100 range, which the SDK cannot even express (no such kwarg)."""
    steps = ("    - Stream:\n        text: wss://media.example.com/ws\n"
             "        contentType: audio/x-mulaw;rate=8000\n        noiseCancellation: true\n"
             f"        noiseCancellationLevel: {level}\n")
    result = compile_api.compile_text(FLOW_HEAD + steps, filename="nc.yaml", host=example_host())
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert (result.flow is not None and not errors) is ok
    if not ok:
        assert any(d.line == 9 for d in errors)
