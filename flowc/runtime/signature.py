"""Plivo request signatures (V3): compute, verify, and the WebSocket handshake variant.

Algorithm (docs/shared plivo.md §4.1): the signed string is the callback URL without query or
fragment, then the parameters in a canonical sorted form, then ``"." + nonce``; the signature
is ``base64(HMAC-SHA256(auth_token, signed_string))``. ``X-Plivo-Signature-V3`` may hold
several signatures separated by commas; one match is enough.

* GET: URL query and request params are merged (the URL's query wins on a key collision) and
  appended as ``?k=v&k=v`` with keys and each key's values sorted by code point.
* POST with params: ``?`` + the URL's sorted query (the ``?`` even when the query is empty),
  ``.`` if that query was not empty, then ``k + v`` for each sorted key (one per sorted value).
* POST without params: as GET without params.

Query values are percent-decoded as UTF-8 (``+`` is a space) and not re-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urldefrag, urlparse, urlunparse

__all__ = [
    "ParamValue",
    "Params",
    "signature_v3",
    "signed_string_v3",
    "verify_v3",
    "verify_websocket",
    "websocket_candidate_urls",
]

ParamValue = str | Sequence[str]
Params = Mapping[str, ParamValue]

_METHODS = frozenset({"GET", "POST"})
_WS_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def _values(value: ParamValue) -> list[str]:
    """A parameter's values as a sorted list (a bare string is one value)."""
    if isinstance(value, str):
        return [value]
    return sorted(value)


def _query_form(params: Mapping[str, list[str]]) -> str:
    """``k=v&k=v`` with keys and values sorted (GET form, values not re-encoded)."""
    return "&".join(f"{key}={val}" for key in sorted(params) for val in sorted(params[key]))


def _body_form(params: Params) -> str:
    """``kvkv`` with keys and values sorted (POST body form)."""
    return "".join(f"{key}{val}" for key in sorted(params) for val in _values(params[key]))


def signed_string_v3(method: str, url: str, nonce: str, params: Params | None = None) -> str:
    """The exact string Plivo HMACs for a callback to ``url`` (see the module docstring).

    Raises ``ValueError`` for a method other than GET/POST or a URL that is not http(s).
    """
    verb = method.upper()
    if verb not in _METHODS:
        raise ValueError(f"unsupported method for a Plivo signature: {method!r}")
    parts = urlparse(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"a Plivo signature needs an absolute http(s) URL, got {url!r}")
    base = urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))
    query = parse_qs(parts.query, keep_blank_values=True, errors="replace")
    body = dict(params or {})
    if verb == "GET" or not body:
        merged = {key: _values(val) for key, val in body.items()}
        merged.update(query)
        canonical = _query_form(merged)
        signed = f"{base}?{canonical}" if canonical else base
    else:
        canonical = _query_form(query)
        signed = f"{base}?{canonical}{'.' if canonical else ''}{_body_form(body)}"
    return f"{signed}.{nonce}"


def signature_v3(
    method: str, url: str, nonce: str, auth_token: str, params: Params | None = None
) -> str:
    """The base64 ``X-Plivo-Signature-V3`` value for this request."""
    message = signed_string_v3(method, url, nonce, params).encode("utf-8")
    digest = hmac.new(auth_token.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_v3(
    method: str,
    url: str,
    nonce: str,
    auth_token: str,
    signature_header: str,
    params: Params | None = None,
) -> bool:
    """True if any comma-separated signature in the header is valid (constant-time compare).

    Fails closed: an empty token, nonce or header, an unsupported method or a non-http(s)
    URL gives False rather than an exception.
    """
    if not auth_token or not nonce or not signature_header:
        return False
    try:
        expected = signature_v3(method, url, nonce, auth_token, params).encode("ascii")
    except ValueError:
        return False
    matched = False
    for candidate in signature_header.split(","):
        given = candidate.strip().encode("utf-8", "replace")
        # Compare against every candidate (no early exit) so timing does not reveal which.
        matched |= hmac.compare_digest(expected, given)
    return matched


def websocket_candidate_urls(url: str) -> list[str]:
    """URLs Plivo may have signed for a stream handshake (plivo.md §4.3), most likely first.

    {http, https} x {the URL as written, the URL + ``"/websocket"``}; ``ws``/``wss`` map to
    ``http``/``https``. The Python stream SDK appends ``/websocket`` after any query string;
    when the URL has a query, the variant with ``/websocket`` at the end of the path is tried
    too. Raises ``ValueError`` for a scheme other than ws/wss/http/https.
    """
    url = urldefrag(url).url
    parts = urlparse(url)
    scheme = _WS_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an absolute ws(s)/http(s) URL: {url!r}")
    rest = url[len(parts.scheme) :]  # "://host/path?query" exactly as written
    schemes = [scheme, "https" if scheme == "http" else "http"]
    out: list[str] = []
    for sch in schemes:
        written = sch + rest
        forms = [written, written + "/websocket"]
        if parts.query:
            path_form = urlunparse(
                (sch, parts.netloc, parts.path + "/websocket", parts.params, parts.query, "")
            )
            forms.append(path_form)
        for form in forms:
            if form not in out:
                out.append(form)
    return out


def verify_websocket(url: str, nonce: str, auth_token: str, signature_header: str) -> str | None:
    """The candidate URL whose GET signature matches the handshake header, or None."""
    try:
        candidates = websocket_candidate_urls(url)
    except ValueError:
        return None
    for candidate in candidates:
        if verify_v3("GET", candidate, nonce, auth_token, signature_header):
            return candidate
    return None
