"""Talking to Rasa: the REST webhook for bot turns, the JWT-protected HTTP API
to resume a paused conversation, and ``GET /`` for health.

Limits: one aiohttp session per bridge (opened by ``start``); every call has
the configured total timeout. The JWT (HS256, RASA_JWT_SECRET) goes only in
the Authorization header, never in a URL, and is never logged.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, List, Optional

import aiohttp
import jwt

from handoff.metrics import Metrics

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer in time, refused, or answered with an error."""


class RasaClient:
    def __init__(self, base_url: str, jwt_secret: str, timeout_s: float, metrics: Metrics) -> None:
        self.base_url = base_url.rstrip("/")
        self.jwt_secret = jwt_secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.metrics = metrics
        self._session: Optional[aiohttp.ClientSession] = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RasaUnavailable("the Rasa client is not started")
        return self._session

    def auth_headers(self) -> Dict[str, str]:
        """A short-lived admin JWT for Rasa's HTTP API."""
        if not self.jwt_secret:
            raise RasaUnavailable("RASA_JWT_SECRET is not set: cannot call Rasa's HTTP API")
        token = jwt.encode(
            {"user": {"username": "handoff", "role": "admin"}, "exp": int(time.time()) + 300},
            self.jwt_secret,
            algorithm="HS256",
        )
        return {"Authorization": f"Bearer {token}"}

    async def _post(self, path: str, body: Any, headers: Optional[Dict[str, str]] = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            async with self.session.post(url, json=body, headers=headers) as response:
                if response.status >= 400:
                    raise RasaUnavailable(f"POST {path.split('/')[1]} answered {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
            raise RasaUnavailable(f"POST {path.split('/')[1]} failed: {type(exc).__name__}") from exc

    async def message(self, sender: str, text: str) -> List[Dict[str, Any]]:
        """One customer message through the REST channel; Rasa's replies in order."""
        started = time.monotonic()
        try:
            replies = await self._post("/webhooks/rest/webhook", {"sender": sender, "message": text})
        except RasaUnavailable:
            self.metrics.rasa_errors.inc()
            raise
        finally:
            self.metrics.rasa_latency.observe(time.monotonic() - started)
        if not isinstance(replies, list):
            self.metrics.rasa_errors.inc()
            raise RasaUnavailable("the REST webhook did not answer a list")
        return [r for r in replies if isinstance(r, dict)]

    async def resume(self, conversation_id: str, action: str) -> List[Dict[str, Any]]:
        """Un-pause the conversation and run ``action``; the bot's messages.
        No ``output_channel`` is given, so Rasa collects the messages and
        returns them in the answer (the bridge relays them)."""
        headers = self.auth_headers()
        await self._post(f"/conversations/{conversation_id}/tracker/events", [{"event": "resume"}], headers)
        answer = await self._post(f"/conversations/{conversation_id}/execute", {"name": action}, headers)
        messages = answer.get("messages") if isinstance(answer, dict) else None
        return [m for m in messages or [] if isinstance(m, dict)]

    async def is_up(self) -> bool:
        """GET / answers 2xx within the timeout (at most 3 s for health checks)."""
        try:
            async with self.session.get(
                f"{self.base_url}/", timeout=aiohttp.ClientTimeout(total=min(3.0, self.timeout.total or 3.0))
            ) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError, RasaUnavailable) as exc:
            logger.info("rasa_health_failed", extra={"error": type(exc).__name__})
            return False
