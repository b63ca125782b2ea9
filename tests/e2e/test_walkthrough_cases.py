"""The Telegram walkthrough of a payment problem on the real bot (issue 11):
«me han cobrado dos veces el pedido», then a request for a person before the
bot's form is done and again once queued. The agents' queue said «Pide
hablar con una persona» (the payment case and its description were gone);
now the case keeps ``payment_problem`` and is queued once, on Telegram and on
the web widget. The bridge runs in this test's loop against the stack's Rasa
and action server (Telegram against the stand-in Bot API). Marked ``slow``."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict

import pytest
import websockets
from aiohttp import web

from bot.settings import Settings
from handoff.agents import add_agent
from handoff.bridge import Bridge
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.telegram.conftest import TOKEN, FakeBotApi, message_update, user

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]
TIMEOUT = 60
REPORT = "me han cobrado dos veces el pedido"


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


async def queue_entry(agent: Client, channel: str) -> Dict[str, Any]:
    while True:
        queue = await agent.until("queue")
        found = [c for c in queue["conversations"] if c["channel"] == channel]
        if found:
            return found[-1]


async def test_a_request_for_a_person_keeps_the_payment_case_on_telegram_and_the_web(
        stack: Settings, e2e_database_url: str) -> None:
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
        _, token = await add_agent(server.bridge.storage, "Ana Pagos E2E")
        ana = Client(await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/agent"))
        await ana.send(type="auth", token=token)
        await ana.until("authenticated")

        # Telegram: the report, then /agente at the order-number question, then again while queued
        me = user(user_id=5151, first_name="Pagos")
        await api.push(message_update(sender=me, text=REPORT))
        await api.wait_sent(lambda m: "número de pedido" in m["text"], timeout=TIMEOUT)
        await api.push(message_update(sender=me, text="/agente"))
        entry = await queue_entry(ana, "telegram")
        assert entry["reason"] == "payment_problem", entry
        cid = entry["conversation_id"]
        await api.push(message_update(sender=me, text="/agente"))
        await api.wait_sent(lambda m: m["text"].startswith("Ya estás en la cola"), timeout=TIMEOUT)
        conversation = await server.bridge.storage.get_conversation(cid)
        assert conversation.reason == "payment_problem" and conversation.context["reason"] == "payment_problem"
        assert conversation.context["details"]["description"] == REPORT
        assert len(await server.bridge.storage.episodes(cid)) == 1  # queued once

        # the web widget: the same report, then its «Hablar con una persona» button, twice
        shopper = Client(await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/chat"))
        await shopper.send(type="start", session_id=None, locale="es")
        web_id = (await shopper.until("session"))["conversation_id"]
        await shopper.send(type="message", text=REPORT, client_id="w1")
        await shopper.until("message", sender="bot")
        for n in (2, 3):
            await shopper.send(type="message", text="Hablar con una persona", payload="/request_human",
                               client_id=f"w{n}")
            await shopper.until("ack", client_id=f"w{n}")
            if n == 2:
                await shopper.until("handoff", state="queued")
        await shopper.until("message", sender="system")  # «Ya estás en la cola…»
        web_case = await server.bridge.storage.get_conversation(web_id)
        assert web_case.reason == "payment_problem" and web_case.context["details"]["description"] == REPORT
        assert len(await server.bridge.storage.episodes(web_id)) == 1
        # the session's other tests share this database: nothing of this test stays queued
        for conversation_id in (cid, web_id):
            await ana.send(type="claim", conversation_id=conversation_id)
            await ana.until("conversation", conversation_id=conversation_id)
            await ana.send(type="close", conversation_id=conversation_id, resolution="resolved")
            await ana.until("closed", conversation_id=conversation_id)
        assert not [c for c in await server.bridge.storage.queue() if c.id in (cid, web_id)]
        await shopper.socket.close()
        await ana.socket.close()
    finally:
        await server.stop()
        await runner.cleanup()
