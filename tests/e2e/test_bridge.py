"""The bridge in front of the real Rasa server and action server: real
WebSocket clients for the shopper and the agent (slow: marked ``slow``)."""
from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any, Dict, List

import pytest
import websockets

from bot.settings import Settings
from core.policy import load_policy
from tests.actions.conftest import DemoOrders

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]
TIMEOUT = 30


class Client:
    """A WebSocket client that waits for frames by type (no sleeps)."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.seen: List[Dict[str, Any]] = []
        self.conversation_id = ""

    async def send(self, **frame: Any) -> None:
        await self.socket.send(json.dumps(frame))

    async def until(self, kind: str, **fields: Any) -> Dict[str, Any]:
        async def wait() -> Dict[str, Any]:
            while True:
                frame = json.loads(await self.socket.recv())
                self.seen.append(frame)
                if frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame
        return await asyncio.wait_for(wait(), TIMEOUT)


def ws_url(settings: Settings, path: str) -> str:
    return f"ws://{settings.handoff_host}:{settings.handoff_port}{path}"


async def shopper(settings: Settings) -> Client:
    client = Client(await websockets.connect(ws_url(settings, "/ws/chat")))
    await client.send(type="start", session_id=None, locale="es")
    client.conversation_id = (await client.until("session"))["conversation_id"]
    return client


async def agent(settings: Settings, token: str) -> Client:
    client = Client(await websockets.connect(ws_url(settings, "/ws/agent")))
    await client.send(type="auth", token=token)
    await client.until("authenticated")
    return client


def bot_texts(frames: List[Dict[str, Any]]) -> str:
    return "\n".join(f.get("text", "") for f in frames if f.get("type") == "message" and f.get("sender") == "bot")


async def test_bot_answers_through_the_bridge_with_typing_first(stack: Settings) -> None:
    customer = await shopper(stack)
    await customer.send(type="message", text="¿el envío es gratis?", client_id="c1")
    await customer.until("ack", client_id="c1")
    answer = await customer.until("message", sender="bot")
    kinds = [f["type"] for f in customer.seen]
    assert kinds.index("typing") < len(kinds) - 1
    assert str(load_policy().raw["free_shipping_threshold"]) in answer["text"]
    await customer.socket.close()


async def test_handoff_claim_talk_close_and_rating(stack: Settings, make_agent, demo_data: Dict[str, Any]) -> None:
    order = DemoOrders(demo_data).find(status="shipped")
    marta_name, token = make_agent("Marta")
    marta = await agent(stack, token)
    customer = await shopper(stack)

    # Verified first, so the case card carries the customer and their orders.
    await customer.send(type="message", text=f"¿dónde está mi pedido {order['order_id']}?")
    await customer.until("message", sender="bot")
    await customer.send(type="message", text=order["email"])
    status = await customer.until("message", sender="bot")
    assert order["tracking_number"] in status["text"]

    await customer.send(type="message", text="quiero hablar con una persona")
    queued = await customer.until("handoff", state="queued")
    # the session's stack is shared: shoppers other tests left queued may wait ahead
    assert queued["position"] >= 1
    assert queued["offline"] is (not load_policy().is_support_open())

    conversation_id = customer.conversation_id
    entry = await marta.until("queue")
    while conversation_id not in [c["conversation_id"] for c in entry["conversations"]]:
        entry = await marta.until("queue")
    await marta.send(type="claim", conversation_id=conversation_id)
    card = await marta.until("conversation", conversation_id=conversation_id)
    assert card["context"]["reason"] == "customer_request"
    assert card["context"]["customer"]["email"] == order["email"]
    assert any(o["order_id"] == order["order_id"] for o in card["context"]["orders"])
    assert any(order["tracking_number"] in str(answer) for answer in card["context"]["bot_answers"])
    assert "request_human" in [i["name"] for i in card["context"]["intents"]]

    assigned = await customer.until("handoff", state="assigned")
    assert assigned["agent_name"] == marta_name
    await marta.send(type="message", conversation_id=conversation_id, text="Hola, soy Marta. Lo miro ahora.")
    reply = await customer.until("message", sender="agent")
    assert reply["agent_name"] == marta_name
    await marta.send(type="note", conversation_id=conversation_id, text="nota interna: llamar a SEUR")
    await customer.send(type="message", text="gracias, espero")
    heard = await marta.until("message", conversation_id=conversation_id, sender="customer")
    assert heard["text"] == "gracias, espero"

    await marta.send(type="close", conversation_id=conversation_id, resolution="resolved")
    await customer.until("handoff", state="ended")
    back = await customer.until("message", sender="bot")
    assert "algo más" in back["text"].lower()  # the Rasa conversation resumed
    await customer.until("csat_request")
    assert not any("nota interna" in f.get("text", "") for f in customer.seen)
    await customer.send(type="csat", score=4, comment="rápido")

    # The bot answers the next question properly (it used to fall back: no
    # action_listen after the resume line).
    await customer.send(type="message", text="¿cuánto tarda el envío?")
    again = await customer.until("message", sender="bot")
    assert "días laborables" in again["text"] and "no te he entendido" not in again["text"]
    await customer.socket.close()
    await marta.socket.close()


async def test_health_reports_rasa_up(stack: Settings) -> None:
    with urllib.request.urlopen(f"{stack.handoff_url}/health", timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["rasa"] == "up"
