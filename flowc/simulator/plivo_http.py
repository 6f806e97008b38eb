"""Plivo's HTTP requests: answer, action, redirect and status callbacks, signed like Plivo."""

from __future__ import annotations

import secrets

import httpx

from flowc.runtime.signature import signature_v3


class PlivoHttp:
    """Sends form POSTs (or GETs) with ``X-Plivo-Signature-V3`` and its nonce when
    ``auth_token`` is set (plivo.md §4.1)."""

    def __init__(self, client: httpx.AsyncClient, auth_token: str | None) -> None:
        self.client = client
        self.auth_token = auth_token

    def sign(self, method: str, url: str, params: dict[str, str]) -> dict[str, str]:
        token = self.auth_token
        if not token:
            return {}
        nonce = "".join(secrets.choice("0123456789") for _ in range(20))
        return {
            "X-Plivo-Signature-V3": signature_v3(method, url, nonce, token, params),
            "X-Plivo-Signature-V3-Nonce": nonce,
        }

    async def request(self, url: str, method: str, params: dict[str, str]) -> httpx.Response:
        headers = self.sign(method, url, params)
        if method == "GET":
            return await self.client.get(url, params=params, headers=headers)
        return await self.client.post(url, data=params, headers=headers)
