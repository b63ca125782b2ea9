"""Rasa and the action server accept work only from the stack (the real
processes, as ``make run`` starts them): Rasa's open REST webhook is off, its
bridge channel needs RASA_BRIDGE_SECRET, the action server needs Rasa's
token; and a turn retried with the same message id is answered from the
tracker, never processed twice (what lets the bridge finish a turn after a
crash exactly once)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, Optional

import pytest

from bot.processes import rasa_message
from bot.settings import Settings
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow


def post(url: str, body: Any, headers: Optional[Dict[str, str]] = None) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("headers", [None, {"Authorization": "Bearer not-the-secret"}, {"Authorization": "Basic x"}])
def test_rasa_takes_turns_only_with_the_bridge_secret(stack: Settings, headers) -> None:
    body = {"sender": "intruso", "message": "¿dónde está mi pedido?"}
    assert post(f"{stack.rasa_url}/webhooks/rest/webhook", body, headers) == 404
    assert post(f"{stack.rasa_url}/webhooks/bridge/webhook", body, headers) == 401
    assert post(f"{stack.rasa_url}/webhooks/bridge/slots", {"sender": "x", "slots": {"email": "a@b.es"}}, headers) == 401
    assert post(f"{stack.rasa_url}/webhooks/bridge/resume", {"sender": "x", "action": "utter_greet"}, headers) == 401


def test_the_action_server_refuses_calls_without_rasas_token(stack: Settings) -> None:
    call = {"next_action": "action_order_status", "sender_id": "intruso", "tracker": {"sender_id": "intruso"},
            "domain": {}, "version": "3.6.21"}
    assert post(f"{stack.actions_url}/webhook", call) == 401
    assert post(f"{stack.actions_url}/webhook", call, {"Authorization": "Bearer adivina"}) == 401
    assert post(f"{stack.actions_url}/actions", {}) in (401, 405)


def test_a_turn_retried_with_its_message_id_is_not_processed_twice(stack: Settings, shopper: Shopper) -> None:
    message_id = "m-" + uuid.uuid4().hex[:8]
    first = rasa_message(stack, shopper.sender, "¿cuánto cuesta el envío?", message_id=message_id)
    again = rasa_message(stack, shopper.sender, "¿cuánto cuesta el envío?", message_id=message_id, retry=True)
    assert first and again == first
    users = [e for e in shopper.tracker()["events"] if e["event"] == "user"]
    assert [e["message_id"] for e in users] == [message_id]
    other = rasa_message(stack, shopper.sender, "¿cuánto tarda en llegar?", message_id=message_id + "b")
    assert other != first
