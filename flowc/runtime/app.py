"""The ASGI application: documents, stream WebSockets, status callbacks, health, metrics.

:func:`create_app` returns a Starlette app users can run on its own (``flowc serve``) or
mount inside their own ASGI app. Routes per flow (paths from :mod:`flowc.model`):

* every named document, GET and POST, rendered per request with the parameters Plivo
  sends (query and form body) over the flow's ``vars``, as ``application/xml``;
* one WebSocket per ``<Stream>`` (:class:`flowc.runtime.session.Session`);
* the stream status callback (logged, ``stream_status`` hook);

and ``/healthz``, ``/readyz`` (503 while draining) and ``/metrics`` (Prometheus text).
With an auth token every callback must carry a valid ``X-Plivo-Signature-V3`` (403
otherwise) and stream handshakes are checked against the candidate URL forms.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from flowc.model import CompiledFlow, Document, StreamRoute, status_path
from flowc.plugins import PluginHost, load_plugins
from flowc.runtime import limits, signature
from flowc.runtime.session import Session
from flowc.runtime.settings import ServeSettings
from flowc.runtime.state import Runtime

log = logging.getLogger("flowc.serve")

SIGNATURE_HEADERS = ("x-plivo-signature-v3", "x-plivo-signature-ma-v3")
NONCE_HEADER = "x-plivo-signature-v3-nonce"

Flows = CompiledFlow | Iterable[CompiledFlow] | Mapping[str, CompiledFlow]


def create_app(
    flows: Flows,
    *,
    host: PluginHost | None = None,
    settings: ServeSettings | None = None,
) -> Starlette:
    """An ASGI app serving ``flows``; its :class:`Runtime` is ``app.state.flowc``."""
    if isinstance(flows, CompiledFlow):
        flows = [flows]
    elif isinstance(flows, Mapping):
        flows = list(flows.values())
    by_name: dict[str, CompiledFlow] = {}
    for flow in flows:
        if flow.name in by_name:
            raise ValueError(f"two flows are named {flow.name!r}")
        by_name[flow.name] = flow
    settings = settings or ServeSettings()
    runtime = Runtime(by_name, host or load_plugins(), settings)
    if not settings.auth_token:
        log.warning("no Plivo auth token: requests are NOT authenticated")
    routes: list[BaseRoute] = [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz(runtime), methods=["GET"]),
        Route("/metrics", _metrics(runtime), methods=["GET"]),
    ]
    for flow in by_name.values():
        for document in flow.documents.values():
            routes.append(Route(document.path, _document(runtime, flow, document),
                                methods=["GET", "POST"]))
        for stream in flow.streams.values():
            routes.append(WebSocketRoute(stream.path, _stream(runtime, flow, stream)))
        for path in dict.fromkeys((*flow.status_paths, status_path(flow.name))):
            routes.append(Route(path, _status(runtime, flow, path), methods=["GET", "POST"]))
    app = Starlette(routes=routes)
    app.state.flowc = runtime
    return app


# ------------------------------------------------------------------------------ helpers


def base_url(conn: HTTPConnection, settings: ServeSettings) -> str:
    """The public http(s) base URL: ``--public-url``, else the request's own."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = conn.url.scheme
    host = conn.headers.get("host") or conn.url.netloc
    if settings.trust_forwarded:
        proto = conn.headers.get("x-forwarded-proto")
        if proto:
            scheme = proto.split(",")[0].strip()
        forwarded_host = conn.headers.get("x-forwarded-host")
        if forwarded_host:
            host = forwarded_host.split(",")[0].strip()
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    root = str(conn.scope.get("root_path", "")).rstrip("/")
    return f"{scheme}://{host}{root}"


def _query_suffix(conn: HTTPConnection) -> str:
    query = conn.scope.get("query_string", b"").decode("latin-1")
    return f"?{query}" if query else ""


async def _form(request: Request) -> dict[str, list[str]]:
    """The urlencoded body Plivo posts (other content types carry no parameters)."""
    if request.method != "POST":
        return {}
    content_type = request.headers.get("content-type", "")
    if content_type and not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    # limits: a callback body is read (to check its signature) only up to max_body_bytes
    runtime: Runtime = request.app.state.flowc
    body = (await limits.read_body(request, runtime.settings.max_body_bytes)).decode(
        "utf-8", "replace")
    form: dict[str, list[str]] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        form.setdefault(key, []).append(value)
    return form


def _signed(runtime: Runtime, conn: HTTPConnection, path: str, method: str,
            form: Mapping[str, list[str]] | None) -> bool:
    """True when no token is configured or a signature header verifies."""
    token = runtime.settings.auth_token
    if not token:
        return True
    nonce = conn.headers.get(NONCE_HEADER, "")
    url = base_url(conn, runtime.settings) + path + _query_suffix(conn)
    for header in SIGNATURE_HEADERS:
        value = conn.headers.get(header)
        if value and signature.verify_v3(method, url, nonce, token, value, form or None):
            return True
    runtime.metrics.signature_failures += 1
    log.warning("refused %s %s: missing or invalid X-Plivo-Signature-V3 (checked %s)",
                method, path, url)
    return False


def _params(request: Request, form: Mapping[str, list[str]]) -> dict[str, str]:
    params = dict(request.query_params)
    params.update({key: values[-1] for key, values in form.items()})
    return params


Endpoint = Callable[[Request], Awaitable[Response]]


# ------------------------------------------------------------------------------- routes


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


def _readyz(runtime: Runtime) -> Endpoint:
    async def readyz(request: Request) -> Response:
        if runtime.draining:
            return PlainTextResponse("draining\n", status_code=503)
        return PlainTextResponse("ready\n")

    return readyz


def _metrics(runtime: Runtime) -> Endpoint:
    async def metrics(request: Request) -> Response:
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    return metrics


def _document(runtime: Runtime, flow: CompiledFlow, document: Document) -> Endpoint:
    async def render(request: Request) -> Response:
        form = await _form(request)
        if not _signed(runtime, request, document.path, request.method, form):
            return PlainTextResponse("invalid signature\n", status_code=403)
        params = _params(request, form)
        runtime.remember_call(params)
        context = {**flow.variables, **params}
        try:
            xml = document.render(context, base_url(request, runtime.settings))
        except Exception as exc:
            log.error("flow %s: rendering %r failed for %s: %s: %s", flow.name, document.name,
                      params.get("CallUUID", "?"), type(exc).__name__, exc)
            return PlainTextResponse(f"cannot render {document.name}: {exc}\n", status_code=500)
        log.info("flow %s: served %s to %s", flow.name, document.name,
                 params.get("CallUUID", request.client.host if request.client else "?"))
        return Response(xml, media_type="application/xml")

    return render


def _status(runtime: Runtime, flow: CompiledFlow, path: str) -> Endpoint:
    async def status(request: Request) -> Response:
        form = await _form(request)
        if not _signed(runtime, request, path, request.method, form):
            return PlainTextResponse("invalid signature\n", status_code=403)
        params = _params(request, form)
        log.info("flow %s: stream status %s: %s", flow.name, params.get("Event", "?"), params)
        runtime.observers.notify("stream_status", {"flow": flow.name, "params": params})
        return PlainTextResponse("OK\n")

    return status


def _stream(runtime: Runtime, flow: CompiledFlow, route: StreamRoute
            ) -> Callable[[WebSocket], Awaitable[None]]:
    async def stream(websocket: WebSocket) -> None:
        if runtime.draining:
            runtime.metrics.streams_refused += 1
            log.warning("refused stream %s/%s: draining", flow.name, route.key)
            await websocket.close(1013)
            return
        if not _handshake_signed(runtime, websocket, route):
            runtime.metrics.streams_refused += 1
            await websocket.close(1008)
            return
        # limits: max_streams and handshake_rate, checked before accept (flowc/runtime/limits.py)
        gate = limits.gate_for(runtime)
        refused = gate.admit()
        if refused is not None:
            runtime.metrics.streams_refused += 1
            log.warning("refused stream %s/%s: %s", flow.name, route.key, refused)
            await websocket.close(limits.CLOSE_TRY_AGAIN_LATER)
            return
        try:
            await websocket.accept()
            await Session(runtime, flow, route, websocket).run()
        finally:
            gate.release()

    return stream


def _handshake_signed(runtime: Runtime, websocket: WebSocket, route: StreamRoute) -> bool:
    settings = runtime.settings
    token = settings.auth_token
    if not token or not settings.verify_websocket:
        return True
    base = base_url(websocket, settings)
    url = "ws" + base[len("http"):] + route.path + _query_suffix(websocket)
    nonce = websocket.headers.get(NONCE_HEADER, "")
    for header in SIGNATURE_HEADERS:
        value = websocket.headers.get(header)
        if value:
            matched = signature.verify_websocket(url, nonce, token, value)
            if matched is not None:
                log.debug("stream handshake signature matched %s", matched)
                return True
    runtime.metrics.signature_failures += 1
    log.warning("refused stream %s: missing or invalid X-Plivo-Signature-V3 (checked %s)",
                route.path, url)
    return False
