"""End to end with the real bot (the session stack's Rasa and action
server): a shopper the shop identified (``TiendaChat.identify``, a signed
``identity`` in the ``start`` frame) asks where their order is, picks it
from their own orders and gets its status and tracking, never asked for
the purchase e-mail; an unsigned identity gets the ordinary questions.

The bridge runs in this test's event loop (with SHOP_WEBHOOK_SECRET set),
talking to the stack's real Rasa, as tests/e2e/test_customer_across_channels.py
does. Marked ``slow``."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, Dict, List

import pytest
import websockets

from bot.settings import Settings
from core.shop_signing import identity_signature
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.actions.conftest import DemoOrders

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]
TIMEOUT = 60
SECRET = "e2e-shop-secret"
ASKS_EMAIL = "¿con qué email hiciste la compra?"


class Shopper:
    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.bot_said: List[Dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.socket.send(json.dumps(frame))

    async def bot(self) -> Dict[str, Any]:
        """The bot's next message (every one is kept in ``bot_said``)."""
        async def wait() -> Dict[str, Any]:
            while True:
                frame = json.loads(await self.socket.recv())
                if frame.get("type") == "message" and frame.get("sender") == "bot":
                    self.bot_said.append(frame)
                    return frame
        return await asyncio.wait_for(wait(), TIMEOUT)


async def test_an_identified_shopper_gets_the_order_status_without_giving_the_email(
        stack: Settings, e2e_database_url: str, demo_data: Dict[str, Any]) -> None:
    order = DemoOrders(demo_data).find(status="shipped")
    settings = HandoffSettings(host="127.0.0.1", port=0, rasa_url=stack.rasa_url,
                               rasa_bridge_secret=stack.rasa_bridge_secret, rasa_timeout_s=30.0,
                               database_url=e2e_database_url, shop_webhook_secret=SECRET)
    server = BridgeServer(settings, Bridge(settings))
    await server.start()
    try:
        ts = int(dt.datetime.now(dt.timezone.utc).timestamp())
        identity = {"email": order["email"], "name": "Cliente", "ts": ts,
                    "signature": identity_signature(SECRET, order["email"], ts)}
        shopper = Shopper(await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/chat"))
        await shopper.send(type="start", session_id=None, locale="es", identity=identity)
        await shopper.send(type="message", text="¿dónde está mi pedido?", client_id="q1")
        question = await shopper.bot()
        assert question["buttons"], question  # the shopper's own orders, offered
        button = next((b for b in question["buttons"] if order["order_id"] in b["title"]), None)
        if button is None:  # not among the five newest: written, as a shopper would
            await shopper.send(type="message", text=order["order_id"], client_id="q2")
        else:
            await shopper.send(type="message", text=button["title"], payload=button["payload"], client_id="q2",
                               reply_to=question["id"])
        status = await shopper.bot()
        while order["tracking_number"] not in status["text"]:
            status = await shopper.bot()
        assert all(ASKS_EMAIL not in m["text"] for m in shopper.bot_said), [m["text"] for m in shopper.bot_said]
        await shopper.socket.close()

        # the same question without a valid signature: the bot asks for the number, then the e-mail
        forged = dict(identity, signature="0" * 64)
        stranger = Shopper(await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/chat"))
        await stranger.send(type="start", session_id=None, locale="es", identity=forged)
        await stranger.send(type="message", text=f"¿dónde está mi pedido {order['order_id']}?", client_id="s1")
        asked = await stranger.bot()
        assert ASKS_EMAIL in asked["text"]
        await stranger.socket.close()
    finally:
        await server.stop()
