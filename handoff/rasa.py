"""Talking to Rasa through its bridge channel (bot/bridge_channel.py): bot
turns, the resume after an agent closes, slots of a verified customer; and
``GET /`` for health.

Every call carries ``Authorization: Bearer <RASA_BRIDGE_SECRET>`` (never in a
URL, never logged) and has the configured total timeout. A turn carries the
bridge's id of the customer message, so a turn retried after a crash is
answered from Rasa's tracker instead of being processed twice.
Limits: one aiohttp session per bridge (opened by ``start``).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, List, Optional

import aiohttp

from handoff.metrics import Metrics

logger = logging.getLogger(__name__)

CHANNEL = "/webhooks/bridge"


class RasaUnavailable(Exception):
    """Rasa did not answer in time, refused, or answered with an error."""


def _replies(answer: Any, what: str) -> List[Dict[str, Any]]:
    messages = answer.get("messages") if isinstance(answer, dict) else None
    if not isinstance(messages, list):
        raise RasaUnavailable(f"{what} did not answer a message list")
    return [m for m in messages if isinstance(m, dict)]


class RasaClient:
    def __init__(self, base_url: str, secret: str, timeout_s: float, metrics: Metrics) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
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

    async def _post(self, route: str, body: Dict[str, Any]) -> Any:
        if not self.secret:
            raise RasaUnavailable("RASA_BRIDGE_SECRET is not set: Rasa's bridge channel would refuse the call")
        try:
            async with self.session.post(f"{self.base_url}{CHANNEL}/{route}", json=body,
                                         headers={"Authorization": f"Bearer {self.secret}"}) as response:
                if response.status >= 400:
                    raise RasaUnavailable(f"POST {route} answered {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
            raise RasaUnavailable(f"POST {route} failed: {type(exc).__name__}") from exc

    async def message(self, sender: str, text: str, message_id: Optional[str] = None,
                      retry: bool = False) -> List[Dict[str, Any]]:
        """One customer message; Rasa's replies in order. With ``retry``, a
        ``message_id`` Rasa already processed gets the replies of the first time."""
        started = time.monotonic()
        body: Dict[str, Any] = {"sender": sender, "message": text}
        if message_id is not None:
            body["message_id"] = message_id
        if retry:
            body["retry"] = True
        try:
            return _replies(await self._post("webhook", body), "the bridge channel")
        except RasaUnavailable:
            self.metrics.rasa_errors.inc()
            raise
        finally:
            self.metrics.rasa_latency.observe(time.monotonic() - started)

    async def resume(self, conversation_id: str, action: str) -> List[Dict[str, Any]]:
        """Run ``action`` (the bot's "I'm back" line) after an agent closed,
        leaving the tracker listening; the bot's messages."""
        return _replies(await self._post("resume", {"sender": conversation_id, "action": action}), "resume")

    async def set_slots(self, conversation_id: str, slots: Dict[str, Any]) -> None:
        await self._post("slots", {"sender": conversation_id, "slots": slots})

    async def is_up(self) -> bool:
        """Rasa's GET / answers 2xx within the timeout (at most 3 s)."""
        return await self.url_up(f"{self.base_url}/")

    async def url_up(self, url: str) -> bool:
        """GET ``url`` answers 2xx within the timeout (at most 3 s, for health checks)."""
        try:
            async with self.session.get(
                url, timeout=aiohttp.ClientTimeout(total=min(3.0, self.timeout.total or 3.0))
            ) as response:
                return 200 <= response.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError, RasaUnavailable) as exc:
            logger.debug("health_check_failed", extra={"url_path": url.rsplit("/", 1)[-1], "error": type(exc).__name__})
            return False
