"""End to end with the real bot (Rasa server + action server of the session
stack): a web shopper verified by order number + e-mail, then the same
customer on Telegram verified by their own phone, end up linked to one store
customer; the Telegram conversation's case card lists the web one and opens
its transcript.

The bridge here runs in this test's event loop (web and Telegram, Telegram
against the stand-in Bot API of tests/telegram/conftest.py) and talks to the
stack's real Rasa; the verification's silent message comes from the real
action server (actions/verification.py). Marked ``slow``."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict

import pytest
import websockets
from aiohttp import web

from bot.settings import Settings
from core.store import create_store
from handoff.agents import add_agent
from handoff.bridge import Bridge
from handoff.channels.telegram import CONTACT_VERIFIED
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.actions.conftest import DemoOrders
from tests.telegram.conftest import TOKEN, FakeBotApi, message_update, user

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]
TIMEOUT = 60


class Client:
    def __init__(self, socket: Any) -> None:
        self.socket = socket

    async def send(self, **frame: Any) -> None:
        await self.socket.send(json.dumps(frame))

    async def until(self, kind: str, **fields: Any) -> Dict[str, Any]:
        async def wait() -> Dict[str, Any]:
            while True:
                frame = json.loads(await self.socket.recv())
                if frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items()):
                    return frame
        return await asyncio.wait_for(wait(), TIMEOUT)


async def test_verified_web_shopper_and_the_same_customer_on_telegram_are_linked(
        stack: Settings, e2e_database_url: str, demo_data: Dict[str, Any]) -> None:
    order = DemoOrders(demo_data).find(status="shipped")
    store = create_store(e2e_database_url)
    found = await store.get_customer_by_email(order["email"])
    assert found is not None and found.phone

    api = FakeBotApi()
    runner = web.AppRunner(api.app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=stack.rasa_url,
                               rasa_bridge_secret=stack.rasa_bridge_secret, rasa_timeout_s=30.0,
                               database_url=e2e_database_url, telegram_bot_token=TOKEN,
                               telegram_api_base_url=api.url, telegram_poll_timeout_s=1, telegram_timeout_s=5.0)
    server = BridgeServer(settings, Bridge(settings))
    await server.start()
    try:
        assert server.telegram is not None
        await asyncio.wait_for(server.telegram.ready.wait(), TIMEOUT)
        marta_agent, token = await add_agent(server.bridge.storage, "Marta E2E")
        marta = Client(await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/agent"))
        await marta.send(type="auth", token=token)
        await marta.until("authenticated")

        # 1. the web shopper proves the order with its e-mail (the real bot and action server)
        shopper = Client(await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/chat"))
        await shopper.send(type="start", session_id=None, locale="es")
        session = await shopper.until("session")
        web_id = session["conversation_id"]
        await shopper.send(type="message", text=f"¿dónde está mi pedido {order['order_id']}?", client_id="w1")
        await shopper.until("message", sender="bot")
        await shopper.send(type="message", text=order["email"], client_id="w2")
        status = await shopper.until("message", sender="bot")
        assert order["tracking_number"] in status["text"]
        linked = await server.bridge.storage.get_conversation(web_id)
        assert (linked.customer_id, linked.customer_linked_by) == (str(found.id), "order_email")
        history = await server.bridge.storage.history(web_id)
        assert all("customer" not in (m.text or "") and m.text for m in history)  # the silent message is not stored

        await shopper.send(type="message", text="quiero hablar con una persona", client_id="w3")
        await shopper.until("handoff", state="queued")
        await marta.send(type="claim", conversation_id=web_id)
        web_card = await marta.until("conversation", conversation_id=web_id)
        assert web_card["context"]["customer"]["email"] == order["email"]
        assert any(o["verified"] and o["order_id"] == order["order_id"] for o in web_card["context"]["orders"])
        await marta.send(type="message", conversation_id=web_id, text="Hola, soy Marta: lo miro.", client_id="m1")
        await marta.until("ack", client_id="m1")
        await marta.send(type="close", conversation_id=web_id, resolution="resolved")
        await shopper.until("csat_request")
        await shopper.send(type="csat", score=5)
        await shopper.until("message", sender="system")
        await shopper.socket.close()

        # 2. the same customer on Telegram shares their own phone, then asks for a person
        me = user(user_id=4242, first_name="Cliente")
        digits = "".join(ch for ch in found.phone if ch.isdigit())
        await api.push(message_update(sender=me, contact={"phone_number": digits, "first_name": "Cliente",
                                                          "user_id": me["id"]}))
        await api.wait_text(CONTACT_VERIFIED.format(name=found.name.split()[0]), timeout=TIMEOUT)
        await api.push(message_update(sender=me, text="/agente"))
        queue = await marta.until("queue")
        while not any(c["channel"] == "telegram" for c in queue["conversations"]):
            queue = await marta.until("queue")
        tg_id = next(c["conversation_id"] for c in queue["conversations"] if c["channel"] == "telegram")
        tg = await server.bridge.storage.get_conversation(tg_id)
        assert (tg.customer_id, tg.customer_linked_by) == (str(found.id), "telegram_phone")

        await marta.send(type="claim", conversation_id=tg_id)
        card = (await marta.until("conversation", conversation_id=tg_id))["context"]
        assert card["customer"]["verified_by_text"] == "Su teléfono de Telegram"
        earlier = card["previous_conversations"]
        first = next(e for e in earlier if e["conversation_id"] == web_id)
        assert first["channel_text"] == "Web" and first["reason_text"] == "Pide hablar con una persona"
        assert first["outcome_text"] == "Cerrada: resuelta" and first["agent_name"] == "Marta E2E" and first["csat"] == 5
        await marta.send(type="transcript", conversation_id=web_id)
        transcript = await marta.until("transcript", conversation_id=web_id)
        texts = [h["text"] for h in transcript["history"]]
        assert texts[0] == f"¿dónde está mi pedido {order['order_id']}?" and "Hola, soy Marta: lo miro." in texts
        await marta.send(type="close", conversation_id=tg_id, resolution="resolved")
        await marta.until("closed", conversation_id=tg_id)
        await marta.socket.close()
        assert marta_agent.id
    finally:
        await server.stop()
        dispose = getattr(store, "dispose", None)
        if callable(dispose):
            dispose()
        async with api.changed:
            api.changed.notify_all()
        await runner.cleanup()
