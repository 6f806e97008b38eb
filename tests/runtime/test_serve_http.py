"""HTTP routes of a live server: documents, status callback, health, signatures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import websockets
import websockets.sync.client
from flowc_testplugin import plugin as testplugin
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

from flowc.plugins import load_plugins
from flowc.runtime.app import create_app
from flowc.runtime.settings import ServeSettings

from .livekit import Live, live_server, make_flow, plivo_stream

TOKEN = "test-auth-token"
NONCE = "05429567804466091622"


def sign(method: str, url: str, params: dict[str, str] | None = None,
         token: str = TOKEN) -> dict[str, str]:
    """Headers Plivo would send, computed with the Plivo SDK's own helpers."""
    if method == "GET":
        signed = construct_get_url(url, dict(params or {})).decode()
    else:
        signed = construct_post_url(url, dict(params or {})).decode()
    signature = get_signature_v3(token.encode(), signed, NONCE.encode()).decode()
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE}


@pytest.fixture(scope="module")
def host() -> Any:
    return load_plugins([testplugin], entry_points_enabled=False)


@pytest.fixture(scope="module")
def open_server(host: Any) -> Iterator[Live]:
    with live_server(create_app(make_flow("main"), host=host)) as server:
        yield server


@pytest.fixture(scope="module")
def signed_server(host: Any) -> Iterator[Live]:
    settings = ServeSettings(auth_token=TOKEN)
    with live_server(create_app(make_flow("main"), host=host, settings=settings)) as server:
        yield server


# ----------------------------------------------------------------------------- documents


def test_answer_renders_request_params_vars_and_own_urls(open_server: Live) -> None:
    response = httpx.post(f"{open_server.http}/flows/main/answer",
                          data={"CallUUID": "c1", "From": "+14155550100 & co"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    xml = response.text
    assert "Hello +14155550100 &amp; co from Acme." in xml
    assert f">ws://127.0.0.1:{open_server.port}/flows/main/streams/agent</Stream>" in xml
    assert f'statusCallbackUrl="http://127.0.0.1:{open_server.port}/flows/main/stream-status"' \
        in xml


def test_get_takes_query_params_and_if_conditions_apply(open_server: Live) -> None:
    sales = httpx.get(f"{open_server.http}/flows/main/menu", params={"Digits": "1"}).text
    support = httpx.post(f"{open_server.http}/flows/main/menu", data={"Digits": "2"}).text
    assert "sales" in sales and "support" not in sales
    assert "support" in support and "sales" not in support
    assert f"http://127.0.0.1:{open_server.port}/flows/main/answer</Redirect>" in sales


def test_a_missing_template_parameter_is_a_clear_500(open_server: Live) -> None:
    response = httpx.get(f"{open_server.http}/flows/main/answer")  # no From
    assert response.status_code == 500
    assert "From" in response.text


def test_public_url_and_forwarded_headers(host: Any) -> None:
    flow = make_flow("main")
    app = create_app(flow, host=host, settings=ServeSettings(public_url="https://voice.example/"))
    with live_server(app) as live:
        xml = httpx.post(f"{live.http}/flows/main/answer", data={"From": "x"}).text
        assert ">wss://voice.example/flows/main/streams/agent<" in xml
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "proxy.example"}
    for trusted, expected in ((True, "wss://proxy.example/"), (False, "ws://127.0.0.1:")):
        app = create_app(flow, host=host, settings=ServeSettings(trust_forwarded=trusted))
        with live_server(app) as live:
            xml = httpx.post(f"{live.http}/flows/main/answer", data={"From": "x"},
                             headers=headers).text
            assert f">{expected}" in xml


def test_status_callback_is_logged_and_reaches_the_hook(open_server: Live) -> None:
    response = httpx.post(f"{open_server.http}/flows/main/stream-status",
                          data={"Event": "StartStream", "StreamID": "s-9", "CallUUID": "c1"})
    assert response.status_code == 200
    hooked = [d for name, d in testplugin.EVENTS if name == "stream_status"]
    assert hooked[-1] == {"flow": "main",
                          "params": {"Event": "StartStream", "StreamID": "s-9", "CallUUID": "c1"}}


def test_health_ready_metrics_and_drain(host: Any) -> None:
    with live_server(create_app(make_flow("main"), host=host)) as live:
        assert httpx.get(f"{live.http}/healthz").status_code == 200
        assert httpx.get(f"{live.http}/readyz").status_code == 200
        metrics = httpx.get(f"{live.http}/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "# TYPE flowc_active_streams gauge" in metrics.text
        live.runtime.begin_drain()
        assert httpx.get(f"{live.http}/readyz").status_code == 503
        assert httpx.get(f"{live.http}/healthz").status_code == 200
        with pytest.raises(websockets.InvalidStatus):
            websockets.sync.client.connect(f"{live.ws}/flows/main/streams/agent").close()
        assert "flowc_streams_refused_total 1" in httpx.get(f"{live.http}/metrics").text


# ---------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_signed_callbacks_are_accepted(signed_server: Live, method: str) -> None:
    url = f"{signed_server.http}/flows/main/answer?flow=x"
    params = {"CallUUID": "c1", "From": "+14155550100", "Direction": "inbound"}
    headers = sign(method, url, params)
    if method == "GET":
        response = httpx.get(f"{url}&{urlencode(params)}", headers=headers)
    else:
        response = httpx.post(url, data=params, headers=headers)
    assert response.status_code == 200, response.text


def test_main_account_signature_header_is_accepted(signed_server: Live) -> None:
    url = f"{signed_server.http}/flows/main/stream-status"
    headers = sign("POST", url, {"Event": "StopStream"})
    headers["X-Plivo-Signature-Ma-V3"] = headers.pop("X-Plivo-Signature-V3")
    assert httpx.post(url, data={"Event": "StopStream"}, headers=headers).status_code == 200


@pytest.mark.parametrize("tamper", ["none", "token", "param", "nonce", "path"])
def test_unsigned_or_tampered_callbacks_get_403(signed_server: Live, tamper: str) -> None:
    url = f"{signed_server.http}/flows/main/answer"
    params = {"CallUUID": "c1", "From": "+14155550100"}
    headers: dict[str, str] = {}
    if tamper != "none":
        headers = sign("POST", url if tamper != "path" else url + "x", params,
                       token="wrong" if tamper == "token" else TOKEN)
    if tamper == "param":
        params["From"] = "+19999999999"
    if tamper == "nonce":
        headers["X-Plivo-Signature-V3-Nonce"] = "1" + NONCE
    response = httpx.post(url, data=params, headers=headers)
    assert response.status_code == 403
    status = httpx.post(f"{signed_server.http}/flows/main/stream-status", data={"Event": "x"})
    assert status.status_code == 403


@pytest.mark.anyio
@pytest.mark.parametrize("signed_as", ["ws", "websocket-suffix"])
async def test_signed_stream_handshake_is_accepted(signed_server: Live, signed_as: str) -> None:
    url = f"{signed_server.ws}/flows/main/streams/agent"
    http_url = "http" + url[2:]
    signed = http_url if signed_as == "ws" else http_url + "/websocket"
    async with plivo_stream(url, f"signed-{signed_as}", headers=sign("GET", signed)) as plivo:
        await plivo.start()
        await plivo.dtmf("3")
        assert (await plivo.receive())["event"] == "sendDTMF"


@pytest.mark.parametrize("headers", [{}, sign("GET", "http://elsewhere.example/x")])
def test_unsigned_stream_handshake_is_refused(signed_server: Live,
                                              headers: dict[str, str]) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        websockets.sync.client.connect(f"{signed_server.ws}/flows/main/streams/agent",
                                       additional_headers=headers).close()
    assert refused.value.response.status_code == 403


def test_health_needs_no_signature(signed_server: Live) -> None:
    assert httpx.get(f"{signed_server.http}/healthz").status_code == 200


def test_signatures_are_checked_against_the_public_url(host: Any) -> None:
    settings = ServeSettings(auth_token=TOKEN, public_url="https://voice.example")
    with live_server(create_app(make_flow("main"), host=host, settings=settings)) as live:
        params = {"CallUUID": "c1", "From": "+14155550100"}
        public = sign("POST", "https://voice.example/flows/main/answer", params)
        local = sign("POST", f"{live.http}/flows/main/answer", params)
        url = f"{live.http}/flows/main/answer"
        assert httpx.post(url, data=params, headers=public).status_code == 200
        assert httpx.post(url, data=params, headers=local).status_code == 403



def test_the_app_can_be_mounted_inside_another_asgi_app(host: Any) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/voice", app=create_app(make_flow("main"), host=host))])
    outer.state.flowc = None
    with live_server(outer) as live:
        xml = httpx.post(f"{live.http}/voice/flows/main/answer", data={"From": "x"}).text
        assert f">ws://127.0.0.1:{live.port}/voice/flows/main/streams/agent<" in xml
        assert httpx.get(f"{live.http}/voice/healthz").status_code == 200
        with websockets.sync.client.connect(f"{live.ws}/voice/flows/main/streams/agent") as conn:
            conn.send('{"event":"start","start":{"streamId":"m"}}')
            conn.send('{"event":"dtmf","dtmf":{"digit":"3"}}')
            assert '"sendDTMF"' in str(conn.recv(timeout=10))
