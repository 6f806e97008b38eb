"""Hang up and transfer a call through Plivo's REST API (plivo.md §4.5)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx

log = logging.getLogger("flowc.agent.plivo")


class PlivoRest:
    """Just the two call-control requests the agent needs, with HTTP basic auth."""

    def __init__(self, auth_id: str, auth_token: str, api_base: str = "https://api.plivo.com",
                 *, timeout_s: float = 10.0) -> None:
        self.auth_id = auth_id
        self._client = httpx.AsyncClient(
            base_url=f"{api_base.rstrip('/')}/v1/Account/{auth_id}/",
            auth=(auth_id, auth_token), timeout=timeout_s,
            headers={"User-Agent": "flowc-agent"},
        )

    @classmethod
    def from_settings(cls, plivo: Mapping[str, Any]) -> PlivoRest | None:
        """A client when credentials are in ``plivo`` settings or PLIVO_AUTH_ID/_TOKEN."""
        auth_id = plivo.get("auth_id") or os.environ.get("PLIVO_AUTH_ID")
        token = plivo.get("auth_token") or os.environ.get("PLIVO_AUTH_TOKEN")
        if not auth_id or not token:
            return None
        return cls(str(auth_id), str(token), str(plivo.get("api_base") or "https://api.plivo.com"))

    async def hangup(self, call_uuid: str) -> bool:
        """``DELETE Call/{uuid}/``: True when hung up (204) or already gone (404)."""
        try:
            response = await self._client.delete(f"Call/{call_uuid}/")
        except httpx.HTTPError as exc:
            log.error("hangup %s failed: %s", call_uuid, exc)
            return False
        if response.status_code in (200, 202, 204, 404):
            return True
        log.error("hangup %s: HTTP %s %s", call_uuid, response.status_code, response.text[:200])
        return False

    async def transfer(self, call_uuid: str, url: str, *, method: str = "POST") -> bool:
        """``POST Call/{uuid}/`` with ``legs=aleg``: Plivo fetches ``url`` for the caller."""
        body = {"legs": "aleg", "aleg_url": url, "aleg_method": method}
        try:
            response = await self._client.post(f"Call/{call_uuid}/", json=body)
        except httpx.HTTPError as exc:
            log.error("transfer %s failed: %s", call_uuid, exc)
            return False
        if response.status_code in (200, 202):
            return True
        log.error("transfer %s: HTTP %s %s", call_uuid, response.status_code,
                  response.text[:200])
        return False

    async def aclose(self) -> None:
        await self._client.aclose()
