"""The Plivo stream wire format: parsing every inbound event, building every outbound one."""

from __future__ import annotations

import base64
import json

import pytest

from flowc.runtime import protocol
from flowc.runtime.protocol import ProtocolError, parse


def test_start_with_every_field() -> None:
    event = parse(json.dumps({
        "event": "start", "sequenceNumber": 1,
        "start": {"callId": "c", "streamId": "s", "accountId": "MA",
                  "tracks": ["inbound", "outbound"],
                  "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": 16000}},
        "extra_headers": "userId=12345;sessionId=abc-xyz"}))
    assert event == protocol.Start(1, "c", "s", "MA", ("inbound", "outbound"), "audio/x-l16",
                                   16000, {"userId": "12345", "sessionId": "abc-xyz"})


@pytest.mark.parametrize(("raw", "expected"), [
    ("a=1,b=2", {"a": "1", "b": "2"}),
    ("a=1;b=2", {"a": "1", "b": "2"}),
    (" a = 1 ; b=x=y ;; c", {"a": "1", "b": "x=y", "c": ""}),
    ("", {}),
    (None, {}),
    ({"k": 1}, {"k": "1"}),
])
def test_extra_headers_split_on_comma_or_semicolon(raw: object, expected: dict[str, str]) -> None:
    assert protocol.parse_extra_headers(raw) == expected


def test_start_defaults_and_string_rate() -> None:
    event = parse('{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw;rate=8000",'
                  '"sampleRate":"8000"}}}')
    assert isinstance(event, protocol.Start)
    assert (event.encoding, event.sample_rate, event.tracks) == ("audio/x-mulaw", 8000,
                                                                 ("inbound",))
    assert event.sequence is None and event.extra_headers == {}


def test_media_timestamp_as_string_or_number() -> None:
    payload = base64.b64encode(b"\x01\x02").decode()
    for timestamp in ("1705312200000", 1705312200000):
        event = parse(json.dumps({"event": "media", "sequenceNumber": "42", "media": {
            "track": "outbound", "timestamp": timestamp, "chunk": 41, "payload": payload}}))
        assert event == protocol.Media(42, "outbound", 1705312200000, 41, b"\x01\x02")


def test_dtmf_played_cleared_stop_unknown() -> None:
    assert parse('{"event":"dtmf","dtmf":{"track":"inbound","digit":"#","timestamp":"5"}}') == \
        protocol.DtmfEvent(None, "#", "inbound", 5)
    assert parse('{"event":"playedStream","name":"g-1"}') == protocol.Played(None, "g-1")
    assert parse('{"event":"played","name":"g-1"}') == protocol.Played(None, "g-1")
    assert parse('{"event":"clearedAudio","sequenceNumber":3}') == protocol.Cleared(3)
    assert parse('{"event":"stop","stop":{"reason":"hangup"}}') == protocol.Stop(None, "hangup")
    assert parse('{"event":"stop"}') == protocol.Stop(None, "stop event")
    assert parse(b'{"event":"muteStream"}') == protocol.Unknown(None, "muteStream")


@pytest.mark.parametrize("raw", [
    "{nope", "[]", '"media"', "{}", '{"event":5}',
    '{"event":"media"}',
    '{"event":"media","media":{"payload":"%%%"}}',
    '{"event":"media","media":{"payload":"AAA"}}',            # bad padding
    '{"event":"media","media":{"payload":"AAAA","track":"both"}}',
    '{"event":"media","media":{"payload":"AAAA","chunk":"x"}}',
    '{"event":"media","media":{"payload":"AAAA","chunk":true}}',
    '{"event":"media","sequenceNumber":[1],"media":{"payload":"AAAA"}}',
    '{"event":"media","sequenceNumber":-1,"media":{"payload":"AAAA"}}',
    '{"event":"media","sequenceNumber":10000000000000000000000000000000000000000,'
    '"media":{"payload":"AAAA"}}',
    '{"event":"media","sequenceNumber":"10000000000000000000000000000000000000000",'
    '"media":{"payload":"AAAA"}}',
    '{"event":"media","sequenceNumber":1.5,"media":{"payload":"AAAA"}}',
    '{"event":"start","start":{"tracks":"inbound"}}',
    '{"event":"start","start":{"mediaFormat":{"sampleRate":"fast"}}}',
    '{"event":"start","start":[]}',
    '{"event":"dtmf","dtmf":{"digit":"12"}}',
    '{"event":"dtmf","dtmf":{"digit":"x"}}',
    '{"event":"dtmf"}',
    '{"event":"playedStream","name":7}',
])
def test_malformed_messages_raise_protocol_error(raw: str) -> None:
    with pytest.raises(ProtocolError):
        parse(raw)


def test_outbound_messages() -> None:
    play = json.loads(protocol.play_audio_message("audio/x-l16", 16000, b"\x00\x01"))
    assert play == {"event": "playAudio", "media": {
        "contentType": "audio/x-l16", "sampleRate": 16000, "payload": "AAE="}}
    assert json.loads(protocol.checkpoint_message("s", "n")) == {
        "event": "checkpoint", "streamId": "s", "name": "n"}
    assert json.loads(protocol.clear_audio_message("s")) == {"event": "clearAudio",
                                                             "streamId": "s"}
    assert json.loads(protocol.send_dtmf_message("12#")) == {"event": "sendDTMF", "dtmf": "12#"}
