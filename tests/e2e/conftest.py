"""Helpers for the end-to-end tests; the real stack itself (``stack``) is a
session fixture in tests/conftest.py, shared with the browser tests."""
from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any, Dict, List

import jwt
import pytest

from bot.processes import rasa_message
from bot.settings import Settings


class Shopper:
    """One conversation over Rasa's bridge channel (as the bridge talks to Rasa)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = "e2e-" + uuid.uuid4().hex[:12]

    def say(self, text: str) -> List[Dict[str, Any]]:
        return rasa_message(self.settings, self.sender, text)

    def texts(self, text: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(text))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        token = jwt.encode({"user": {"username": "tests", "role": "admin"}},
                           self.settings.rasa_jwt_secret, algorithm="HS256")
        request = urllib.request.Request(
            f"{self.settings.rasa_url}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode() or "null")

    def tracker(self) -> Dict[str, Any]:
        return self.api("GET", f"/conversations/{self.sender}/tracker")


@pytest.fixture
def shopper(stack: Settings) -> Shopper:
    return Shopper(stack)


