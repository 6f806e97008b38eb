"""Plivo V3 signatures: the SDK's signed strings, and agreement with the plivo SDK itself."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from plivo.utils import validate_v3_signature

from flowc.runtime.signature import (
    signature_v3,
    signed_string_v3,
    verify_v3,
    verify_websocket,
    websocket_candidate_urls,
)

NONCE = "05429567804466091622"
TOKEN = "MjE3ZTRjYjYtYmJmZi00Zjk4LTg4ZDMtZmVkZjFhZTM5NjJl"


def _hmac(message: str, token: str = TOKEN) -> str:
    digest = hmac.new(token.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# The signed strings the SDK produced for these requests (plivo.md §4.1, verified by running it).
SDK_EXAMPLES = [
    (
        "POST",
        "https://example.com/answer?flow=main&b=2",
        {"CallUUID": "c1", "Direction": "inbound", "From": "14155550100", "To": "14155550123"},
        "https://example.com/answer?b=2&flow=main."
        "CallUUIDc1DirectioninboundFrom14155550100To14155550123.05429567804466091622",
    ),
    (
        "POST",
        "https://example.com/answer",
        {"CallUUID": "c1", "From": "14155550100"},
        "https://example.com/answer?CallUUIDc1From14155550100.05429567804466091622",
    ),
    (
        "GET",
        "https://example.com/answer?flow=main&b=2",
        {"CallUUID": "c1", "From": "14155550100"},
        "https://example.com/answer?CallUUID=c1&From=14155550100&b=2&flow=main.05429567804466091622",
    ),
    (
        "GET",
        "http://ws.example.com/stream",
        {},
        "http://ws.example.com/stream.05429567804466091622",
    ),
]


@pytest.mark.parametrize(("method", "url", "params", "signed"), SDK_EXAMPLES)
def test_signed_string_matches_sdk_examples(
    method: str, url: str, params: dict[str, str], signed: str
) -> None:
    assert signed_string_v3(method, url, NONCE, params) == signed
    sig = signature_v3(method, url, NONCE, TOKEN, params)
    assert sig == _hmac(signed)
    assert validate_v3_signature(method, url, NONCE, TOKEN, sig, dict(params))
    assert verify_v3(method, url, NONCE, TOKEN, sig, params)


@pytest.mark.parametrize(
    ("method", "url", "params", "signed"),
    [
        # POST with no params signs like GET; the URL's blank query values are kept.
        ("POST", "https://a.com/x?z", {}, "https://a.com/x?z=.n"),
        # POST with params and a blank query: "?" then "." then the body.
        ("POST", "https://a.com?x", {"a": "1"}, "https://a.com?x=.a1.n"),
        # GET: the URL's query wins over a request param of the same name.
        (
            "GET",
            "https://a.com/p?q=A",
            {"q": "z", "k": ["b", "a"]},
            "https://a.com/p?k=a&k=b&q=A.n",
        ),
        # Percent-escapes decoded, "+" is a space, path ;params and the fragment dropped.
        ("GET", "https://a.com/x;p?r=+1&s=%26#frag", {}, "https://a.com/x?r= 1&s=&.n"),
        # List values of a POST body: one k+v per sorted value; upper-case keys sort first.
        ("post", "https://a.com/x", {"b": ["2", "1"], "B": "0"}, "https://a.com/x?B0b1b2.n"),
    ],
)
def test_signed_string_edge_cases(
    method: str, url: str, params: dict[str, str | list[str]], signed: str
) -> None:
    assert signed_string_v3(method, url, "n", params) == signed
    sig = signature_v3(method, url, "n", TOKEN, params)
    assert validate_v3_signature(method.upper(), url, "n", TOKEN, sig, dict(params))


def test_header_with_several_signatures_accepts_any_valid_one() -> None:
    good = signature_v3("POST", "https://a.com/x", NONCE, TOKEN, {"a": "1"})
    other = signature_v3("POST", "https://a.com/x", NONCE, "another-token", {"a": "1"})
    assert verify_v3("POST", "https://a.com/x", NONCE, TOKEN, f"{other},{good}", {"a": "1"})
    assert verify_v3("POST", "https://a.com/x", NONCE, TOKEN, f"{other}, {good} ", {"a": "1"})
    assert not verify_v3("POST", "https://a.com/x", NONCE, TOKEN, f"{other},{other}", {"a": "1"})


@pytest.mark.parametrize(
    ("method", "url", "nonce", "token", "params"),
    [
        ("POST", "https://a.com/x", NONCE, "wrong-token", {"a": "1"}),  # wrong token
        ("POST", "https://a.com/x", "1" + NONCE, TOKEN, {"a": "1"}),  # other nonce
        ("POST", "https://a.com/y", NONCE, TOKEN, {"a": "1"}),  # other path
        ("POST", "http://a.com/x", NONCE, TOKEN, {"a": "1"}),  # other scheme
        ("POST", "https://a.com/x", NONCE, TOKEN, {"a": "2"}),  # tampered param
        ("POST", "https://a.com/x", NONCE, TOKEN, {"a": "1", "b": ""}),  # added param
        ("GET", "https://a.com/x", NONCE, TOKEN, {"a": "1"}),  # other method
    ],
)
def test_any_change_to_the_request_is_refused(
    method: str, url: str, nonce: str, token: str, params: dict[str, str]
) -> None:
    sig = signature_v3("POST", "https://a.com/x", NONCE, TOKEN, {"a": "1"})
    assert not verify_v3(method, url, nonce, token, sig, params)


@pytest.mark.parametrize(
    ("method", "url", "nonce", "token", "header"),
    [
        ("PUT", "https://a.com/x", NONCE, TOKEN, "x"),
        ("GET", "wss://a.com/x", NONCE, TOKEN, "x"),
        ("GET", "/relative", NONCE, TOKEN, "x"),
        ("GET", "https://a.com/x", "", TOKEN, "x"),
        ("GET", "https://a.com/x", NONCE, "", "x"),
        ("GET", "https://a.com/x", NONCE, TOKEN, ""),
        ("GET", "https://a.com/x", NONCE, TOKEN, "\u00e9\u0000,,,"),
    ],
)
def test_verify_fails_closed(method: str, url: str, nonce: str, token: str, header: str) -> None:
    assert verify_v3(method, url, nonce, token, header) is False


def test_signature_v3_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="method"):
        signature_v3("PUT", "https://a.com/", NONCE, TOKEN)
    with pytest.raises(ValueError, match="http"):
        signature_v3("GET", "ws://a.com/", NONCE, TOKEN)


def test_non_ascii_query_is_decoded_as_utf8() -> None:
    # The SDK raises on this URL; flowc decodes percent-escapes as UTF-8 and signs the text.
    assert signed_string_v3("GET", "https://a.com/?n=%C3%A9", "1") == "https://a.com/?n=\u00e9.1"


def test_websocket_candidates_cover_both_schemes_and_the_sdk_suffix() -> None:
    assert websocket_candidate_urls("wss://h.example/s") == [
        "https://h.example/s",
        "https://h.example/s/websocket",
        "http://h.example/s",
        "http://h.example/s/websocket",
    ]
    with_query = websocket_candidate_urls("ws://h.example/s?flow=a#x")
    assert with_query[0] == "http://h.example/s?flow=a"
    assert "http://h.example/s?flow=a/websocket" in with_query  # Python stream SDK form
    assert "https://h.example/s/websocket?flow=a" in with_query
    assert len(with_query) == len(set(with_query)) == 6
    with pytest.raises(ValueError):
        websocket_candidate_urls("ftp://h.example/s")


@pytest.mark.parametrize(
    "signed_url",
    [
        "https://h.example/s?flow=a",
        "http://h.example/s?flow=a/websocket",
        "https://h.example/s/websocket?flow=a",
    ],
)
def test_verify_websocket_returns_the_matching_candidate(signed_url: str) -> None:
    sig = signature_v3("GET", signed_url, NONCE, TOKEN)
    assert validate_v3_signature("GET", signed_url, NONCE, TOKEN, sig)
    assert verify_websocket("wss://h.example/s?flow=a", NONCE, TOKEN, sig) == signed_url
    assert verify_websocket("wss://h.example/s?flow=b", NONCE, TOKEN, sig) is None
    assert verify_websocket("wss://h.example/s?flow=a", NONCE, "bad", sig) is None
    assert verify_websocket("not a url", NONCE, TOKEN, sig) is None
