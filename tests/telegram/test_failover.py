"""Telegram runs in exactly one bridge of a cluster, with failover: two
bridge processes with the same bot token against the stand-in Bot API; only
the leader polls (every update is answered once), the leader is killed, the
other bridge takes over within HANDOFF_LEADER_TTL_S and answers what comes
next, once; a reply made on the bridge that does not lead (an agent's, from
the console) reaches the chat through the outbox."""
from __future__ import annotations

from typing import Any, Dict

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from handoff.channels.telegram import outbox_table
from handoff.storage import Storage
from tests.handoff.bridge_process import StartBridge, cluster, connect, wait_until  # noqa: F401
from tests.handoff.conftest import new_agent_in
from tests.telegram.conftest import TOKEN, FakeBotApi, message_update

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio]


def telegram_env(bot_api: FakeBotApi) -> Dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": bot_api.url, "TELEGRAM_POLL_TIMEOUT_S": "1",
            "TELEGRAM_TIMEOUT_S": "3"}


def replies(bot_api: FakeBotApi, text: str) -> int:
    return sum(1 for m in bot_api.sent if m["text"] == text)


async def all_sent(database_url: str) -> bool:
    storage = Storage(database_url)
    try:
        def work(conn: Connection) -> bool:
            return conn.execute(select(func.count()).select_from(outbox_table)
                                .where(outbox_table.c.sent_at.is_(None))).scalar_one() == 0
        return await storage.run(work)
    finally:
        storage.dispose()


async def test_one_bridge_polls_and_another_takes_over_when_it_dies(cluster: StartBridge,  # noqa: F811
                                                                    bot_api: FakeBotApi,
                                                                    fresh_postgres_url: str) -> None:
    first = await cluster("first", **telegram_env(bot_api))
    await cluster("second", **telegram_env(bot_api))
    for n in range(3):
        await bot_api.push(message_update(text=f"hola {n}"))
        await bot_api.wait_text(f"Eco: hola {n}")
    # killed once every reply is marked sent (a kill between Telegram's answer
    # and the mark sends that one again: at least once, docs/operations.md)
    await wait_until(lambda: all_sent(fresh_postgres_url), "the outbox marked sent")
    await first.kill()
    await bot_api.push(message_update(text="sigo aquí"))
    await bot_api.wait_text("Eco: sigo aquí", timeout=30)
    for text in [f"Eco: hola {n}" for n in range(3)] + ["Eco: sigo aquí"]:
        assert replies(bot_api, text) == 1, text


async def test_an_agent_on_the_other_bridge_reaches_the_chat(cluster: StartBridge,  # noqa: F811
                                                             bot_api: FakeBotApi, fresh_postgres_url: str) -> None:
    await cluster("leader", **telegram_env(bot_api))
    follower = await cluster("follower", **telegram_env(bot_api))
    _, token = await new_agent_in(fresh_postgres_url, "Marta")
    agent = await connect(follower.port, "/ws/agent")
    await agent.send({"type": "auth", "token": token})
    await agent.wait_type("authenticated")
    await bot_api.push(message_update(text="agente"))

    def queued_here(frame: Dict[str, Any]) -> bool:
        return frame.get("type") == "queue" and bool(frame.get("conversations"))

    queue = await agent.wait_for(queued_here, timeout=15)
    conversation_id = queue["conversations"][0]["conversation_id"]
    await agent.send({"type": "claim", "conversation_id": conversation_id})
    await agent.wait_type("conversation")
    await agent.send({"type": "message", "conversation_id": conversation_id, "text": "Hola, soy Marta.",
                      "client_id": "a1"})
    await bot_api.wait_text("Marta: Hola, soy Marta.", timeout=15)
    await agent.close()
