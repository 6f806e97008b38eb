"""Abuse of a real ``flowc serve`` process with an auth token (issue 6, item 5).

Unsigned and wrongly signed callbacks and stream handshakes are refused; the refusal builds
no session and runs no plugin code; a callback body is not read past the limit; a
WebSocket message over the size limit closes that stream only. Signatures here are made
with the plivo SDK's own helpers, not with flowc's code.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from . import kit

pytestmark = pytest.mark.anyio

TOKEN = "hardening-auth-token"
NONCE = "12345678901234567890"
ANSWER = "/flows/guarded/answer"
STATUS = "/flows/guarded/stream-status"
STREAM = "/flows/guarded/streams/agent"
CALL = {"CallUUID": "c-1", "From": "14155550100", "To": "14155550123", "Direction": "inbound"}


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kit.ServeProcess]:
    with kit.flowc_serve(tmp_path_factory.mktemp("serve"), "--auth-token", TOKEN) as process:
        yield process


def sdk_signature(method: str, url: str, params: Mapping[str, str], *, token: str = TOKEN,
                  nonce: str = NONCE) -> str:
    """``X-Plivo-Signature-V3`` as the plivo SDK computes it."""
    build = construct_get_url if method == "GET" else construct_post_url
    signed = build(url, dict(params)).decode()
    return bytes(get_signature_v3(token.encode(), signed, nonce.encode())).decode()


def headers(signature: str, *, nonce: str = NONCE, header: str = "X-Plivo-Signature-V3",
            ) -> dict[str, str]:
    return {header: signature, "X-Plivo-Signature-V3-Nonce": nonce}


def healthy(serve: kit.ServeProcess) -> bool:
    return httpx.get(f"{serve.http}/healthz").status_code == 200


def metric(serve: kit.ServeProcess, name: str) -> float:
    text = httpx.get(f"{serve.http}/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize("path", [ANSWER, STATUS])
def test_callbacks_need_a_valid_signature(serve: kit.ServeProcess, path: str) -> None:
    url = serve.http + path
    good = sdk_signature("POST", url, CALL)
    refused = {
        "unsigned": {},
        "no nonce": {"X-Plivo-Signature-V3": good},
        "other token": headers(sdk_signature("POST", url, CALL, token="guess")),
        "other nonce": headers(good, nonce="1" + NONCE),
        "other path": headers(sdk_signature("POST", serve.http + "/flows/other/answer", CALL)),
        "garbage": headers("A" * 44 + "," + "not base64!" + "," * 50),
    }
    for why, sent in refused.items():
        response = httpx.post(url, data=CALL, headers=sent)
        assert response.status_code == 403, why
    tampered = httpx.post(url, data={**CALL, "From": "19999999999"}, headers=headers(good))
    assert tampered.status_code == 403
    for header in ("X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"):
        response = httpx.post(url, data=CALL, headers=headers(f"bogus,{good}", header=header))
        assert response.status_code == 200
    query_url = f"{url}?CallUUID=c-2&From=1415"
    signed_get = sdk_signature("GET", query_url, {})
    assert httpx.get(query_url, headers=headers(signed_get)).status_code == 200
    assert httpx.get(query_url + "5", headers=headers(signed_get)).status_code == 403


def test_a_callback_body_over_the_limit_is_refused_without_reading_it(
    serve: kit.ServeProcess,
) -> None:
    url = serve.http + ANSWER
    big = {"CallUUID": "c-1", "Junk": "x" * 1_000_000}
    assert httpx.post(url, data=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b"CallUUID=c-1&Junk="
        for _ in range(100):
            yield b"x" * 10_000

    assert httpx.post(url, content=chunks(),
                      headers={"content-type": "application/x-www-form-urlencoded"}
                      ).status_code == 413
    assert httpx.get(f"{serve.http}/healthz").status_code == 200


def _ws_signature(url: str) -> dict[str, str]:
    return headers(sdk_signature("GET", url, {}))


async def test_unsigned_or_wrongly_signed_handshakes_are_refused_cheaply(
    serve: kit.ServeProcess,
) -> None:
    http_url = serve.http + STREAM
    streams_before = metric(serve, "flowc_streams_total")
    failures_before = metric(serve, "flowc_signature_failures_total")
    refused = [
        {},
        _ws_signature(serve.http + "/flows/guarded/streams/other"),
        headers(sdk_signature("GET", http_url, {}, token="guess")),
        headers(sdk_signature("GET", http_url, {}), nonce="0"),
        headers(sdk_signature("GET", http_url + "?x=1", {})),
    ]
    for attempt in range(100):
        sent = refused[attempt % len(refused)]
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(serve.ws + STREAM, additional_headers=sent):
                pass
        assert info.value.response.status_code == 403
    # Refused before accept: no session was built, no plugin code ran.
    assert metric(serve, "flowc_streams_total") == streams_before
    assert metric(serve, "flowc_signature_failures_total") - failures_before == 100
    assert healthy(serve)


@pytest.mark.parametrize("signed_url", [
    "{http}" + STREAM,                      # the URL as written (Node SDK form)
    "{http}" + STREAM + "/websocket",       # the Python stream SDK's form
    "{https}" + STREAM,                     # TLS ended at a proxy
])
async def test_handshakes_signed_in_any_candidate_form_are_accepted(
    serve: kit.ServeProcess, signed_url: str,
) -> None:
    host = f"127.0.0.1:{serve.port}"
    url = signed_url.format(http=f"http://{host}", https=f"https://{host}")
    async with websockets.connect(serve.ws + STREAM, additional_headers=_ws_signature(url)) as ws:
        await ws.send('{"event": "start", "start": {"streamId": "signed", "callId": "c"}}')


async def test_a_message_over_the_size_limit_closes_the_stream_with_1009(
    serve: kit.ServeProcess,
) -> None:
    client = await kit.RawClient.connect(serve.port, STREAM,
                                         _ws_signature(serve.http + STREAM))
    await client.send_json(kit.start_message("too-big"))
    payload = base64.b64encode(b"\0" * 100_000).decode()
    await client.send_text('{"event": "media", "media": {"payload": "' + payload + '"}}')
    assert await client.receive_close() == 1009
    await client.aclose()
    assert healthy(serve)


async def test_limits_set_on_the_command_line_apply(
    tmp_path: Path,
) -> None:
    with kit.flowc_serve(tmp_path, "--max-streams", "1", "--max-message-bytes", "2000") as serve:
        async with websockets.connect(serve.ws + STREAM) as first:
            await first.send(kit_start("cli-1"))
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(serve.ws + STREAM):
                    pass
            await first.send('{"event": "x", "pad": "' + "p" * 3000 + '"}')
            with pytest.raises(websockets.ConnectionClosed):
                await first.recv()
            assert first.close_code == 1009


def kit_start(sid: str) -> str:
    return orjson.dumps(kit.start_message(sid)).decode()


def test_the_server_log_names_each_refusal(serve: kit.ServeProcess) -> None:
    text = Path(serve.log).read_text()
    assert "invalid X-Plivo-Signature-V3" in text
