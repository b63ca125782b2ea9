"""Nothing is lost when the bridge restarts on the same database."""
from __future__ import annotations

import pytest

from tests.handoff.conftest import agent_client, customer, new_agent, queued_customer


@pytest.mark.asyncio
async def test_restart_keeps_queue_assignments_and_history(start_bridge) -> None:
    first = await start_bridge(agent_grace_s=60)
    waiting, waiting_session, _ = await queued_customer(first)
    served, served_session, _ = await queued_customer(first)
    agent_id, token = await new_agent(first, "Ana")
    agent = await agent_client(first, token)
    await agent.send({"type": "claim", "conversation_id": served_session["conversation_id"]})
    await agent.wait_type("conversation")
    await agent.send({"type": "message", "conversation_id": served_session["conversation_id"], "text": "Hola, soy Ana"})
    await served.wait_type("message", sender="agent")
    await waiting.send({"type": "message", "text": "sigo esperando", "client_id": "w2"})
    await waiting.wait_type("ack", client_id="w2")
    await first.stop()

    second = await start_bridge(agent_grace_s=60)
    again, session = await customer(second, waiting_session["session_id"])
    assert session["resumed"] is True and session["conversation_id"] == waiting_session["conversation_id"]
    history = await again.wait_type("history")
    assert [m["text"] for m in history["messages"] if m["sender"] == "customer"] == ["agente", "sigo esperando"]
    status = await again.wait_type("handoff")
    assert status["state"] == "queued" and status["position"] == 1

    served_again, session = await customer(second, served_session["session_id"], after_id=0)
    history = await served_again.wait_type("history")
    assert history["messages"][-1]["agent_name"] == "Ana"
    assigned = await served_again.wait_type("handoff")
    assert {k: assigned[k] for k in ("type", "state", "agent_name")} == {
        "type": "handoff", "state": "assigned", "agent_name": "Ana"}

    agent_again = await agent_client(second, token)
    back = await agent_again.wait_type("conversation")
    assert back["conversation_id"] == served_session["conversation_id"]
    assert [h["text"] for h in back["history"]][-1] == "Hola, soy Ana"
    await agent_again.send({"type": "message", "conversation_id": back["conversation_id"], "text": "Ya estoy"})
    assert (await served_again.wait_type("message"))["text"] == "Ya estoy"
    queue = await second.bridge.storage.queue()
    assert [c.id for c in queue] == [waiting_session["conversation_id"]]


@pytest.mark.asyncio
async def test_unknown_session_starts_a_new_conversation(start_bridge) -> None:
    server = await start_bridge()
    client, session = await customer(server, "no-existe")
    assert session["resumed"] is False and session["session_id"] != "no-existe"
