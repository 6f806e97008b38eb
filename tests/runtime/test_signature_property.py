"""Property test: flowc's V3 signature agrees with the plivo SDK on random requests."""

from __future__ import annotations

import copy
import string
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plivo.utils import validate_v3_signature
from plivo.utils.signature_v3 import construct_get_url, construct_post_url

from flowc.runtime.signature import signature_v3, signed_string_v3, verify_v3

# The SDK only handles ASCII URLs (it raises on anything else), so URL parts are ASCII;
# request params may be any text.
_ascii = st.text(alphabet=string.printable, max_size=12)
_label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
_segment = st.text(alphabet=string.ascii_letters + string.digits + "-._~", max_size=10)
_param_value = st.one_of(
    st.text(max_size=12), st.lists(st.text(max_size=8), min_size=1, max_size=3)
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = ".".join(draw(st.lists(_label, min_size=1, max_size=3)))
    port = draw(st.sampled_from(["", ":8080", ":443"]))
    path = "/".join(draw(st.lists(_segment, max_size=4)))
    query = draw(st.lists(st.tuples(_ascii, _ascii), max_size=4))
    empty_query_mark: bool = draw(st.booleans())
    url = f"{scheme}://{host}{port}/{path}"
    if query or empty_query_mark:
        url += "?" + urlencode(query)
    return url


@settings(max_examples=250, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "get", "post", "Post"]),
    url=urls(),
    params=st.dictionaries(st.text(max_size=8), _param_value, max_size=5),
    nonce=st.text(alphabet=string.digits, min_size=1, max_size=20),
    token=st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=40),
)
def test_signature_agrees_with_sdk(
    method: str, url: str, params: dict[str, str | list[str]], nonce: str, token: str
) -> None:
    verb = method.upper()  # the SDK only normalizes the case in its argument check
    build = construct_get_url if verb == "GET" else construct_post_url
    sdk_signed = build(url, copy.deepcopy(params)).decode() + "." + nonce
    assert signed_string_v3(method, url, nonce, params) == sdk_signed

    sig = signature_v3(method, url, nonce, token, params)
    assert validate_v3_signature(verb, url, nonce, token, sig, copy.deepcopy(params))
    assert verify_v3(method, url, nonce, token, f"bogus,{sig}", params)
    assert not verify_v3(method, url, nonce, token + "x", sig, params)
    assert not verify_v3(method, url, nonce + "0", token, sig, params)


@settings(max_examples=100, deadline=None)
@given(
    method=st.text(max_size=8).filter(lambda m: m.upper() not in ("GET", "POST")),
    url=urls(),
    token=st.text(alphabet=string.ascii_letters, min_size=1, max_size=20),
)
def test_other_methods_are_refused_like_the_sdk_refuses_them(
    method: str, url: str, token: str
) -> None:
    sig = signature_v3("POST", url, "1", token)
    assert not verify_v3(method, url, "1", token, sig)
    with pytest.raises(Exception, match="method"):
        validate_v3_signature(method, url, "1", token, sig)
