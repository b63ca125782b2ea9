"""Two bridge processes on one PostgreSQL database and one Redis
(HANDOFF_CLUSTER=redis): a customer on one bridge and the agent on the other
talk as if there were one; a claim raced from both bridges goes to exactly
one agent; a bridge killed mid-turn leaves nothing unanswered (the other
bridge's leader finishes the turn, the customer reconnects there and gets the
whole history); a shopper's presence and an agent's connection count on every
bridge. Real processes (``python -m handoff``), the real Redis and
PostgreSQL on their standard local ports, a stand-in Rasa."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Dict

import pytest

from handoff.cluster import LOCK_TTL_S
from handoff.storage import Storage
from tests.handoff.bridge_process import LoadBalancer, StartBridge, cluster, connect, reconnect, wait_until  # noqa: F401
from tests.handoff.conftest import FRAME_TIMEOUT_S, Client, FakeRasa, new_agent_in

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio]

async def agent_on(port: int, token: str) -> Client:
    client = await connect(port, "/ws/agent")
    await client.send({"type": "auth", "token": token, "queue_updates": "changes"})
    await client.wait_type("authenticated")
    return client


async def shopper_on(port: int) -> tuple:
    client = await connect(port, "/ws/chat")
    await client.send({"type": "start"})
    session = await client.wait_type("session")
    return client, session


async def queued(client: Client, text: str = "agente") -> None:
    await client.send({"type": "message", "text": text, "client_id": f"c-{text}"})
    await client.wait_for(lambda f: f.get("type") == "handoff" and f.get("state") == "queued")


async def added_to_queue(agent: Client, conversation_id: str) -> Dict[str, Any]:
    """The queue entry of ``conversation_id`` as the agent's next ``queue_changed`` adds it."""
    frame = await agent.wait_for(lambda f: f.get("type") == "queue_changed"
                                 and any(c.get("conversation_id") == conversation_id for c in f.get("added", ())))
    return next(c for c in frame["added"] if c["conversation_id"] == conversation_id)


async def test_a_customer_on_one_bridge_and_the_agent_on_the_other(cluster: StartBridge,
                                                                   fresh_postgres_url: str) -> None:
    a = await cluster("a")
    b = await cluster("b")
    _, token = await new_agent_in(fresh_postgres_url, "Marta")
    agent = await agent_on(b.port, token)
    shopper, session = await shopper_on(a.port)
    conversation_id = session["conversation_id"]

    await queued(shopper)
    # bridge B's agent sees the conversation queued on bridge A
    await added_to_queue(agent, conversation_id)
    await agent.send({"type": "claim", "conversation_id": conversation_id})
    await agent.wait_type("conversation")
    assigned = await shopper.wait_for(lambda f: f.get("type") == "handoff" and f.get("state") == "assigned")
    assert assigned["agent_name"] == "Marta"

    await agent.send({"type": "message", "conversation_id": conversation_id, "text": "Hola, soy Marta.",
                      "client_id": "a1"})
    got = await shopper.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "agent")
    assert got["text"] == "Hola, soy Marta." and got["agent_name"] == "Marta"

    for n in range(5):  # in order, each once, across the two processes
        await shopper.send({"type": "message", "text": f"mensaje {n}", "client_id": f"m{n}"})
    texts = []
    while len(texts) < 5:
        frame = await agent.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "customer")
        texts.append(frame["text"])
    assert texts == [f"mensaje {n}" for n in range(5)]

    await agent.send({"type": "close", "conversation_id": conversation_id, "resolution": "resolved"})
    await shopper.wait_for(lambda f: f.get("type") == "handoff" and f.get("state") == "ended")
    await shopper.wait_type("csat_request")
    await shopper.close()
    await agent.close()


async def test_a_claim_raced_from_both_bridges_goes_to_one_agent(cluster: StartBridge,
                                                                 fresh_postgres_url: str) -> None:
    a = await cluster("a")
    b = await cluster("b")
    _, token_a = await new_agent_in(fresh_postgres_url, "Ana")
    _, token_b = await new_agent_in(fresh_postgres_url, "Bea")
    agent_a = await agent_on(a.port, token_a)
    agent_b = await agent_on(b.port, token_b)
    ids = []
    shoppers = []
    for n in range(6):
        shopper, session = await shopper_on(a.port if n % 2 else b.port)
        await queued(shopper)
        ids.append(session["conversation_id"])
        shoppers.append(shopper)

    async def outcome(agent: Client, conversation_id: str) -> str:
        frame = await agent.wait_for(lambda f: (f.get("type") == "conversation"
                                                and f.get("conversation_id") == conversation_id)
                                     or (f.get("type") == "error" and f.get("code") == "already_claimed"))
        return "won" if frame["type"] == "conversation" else "lost"

    for conversation_id in ids:
        await asyncio.gather(agent_a.send({"type": "claim", "conversation_id": conversation_id}),
                             agent_b.send({"type": "claim", "conversation_id": conversation_id}))
        results = await asyncio.gather(outcome(agent_a, conversation_id), outcome(agent_b, conversation_id))
        assert sorted(results) == ["lost", "won"], results

    storage = Storage(fresh_postgres_url)
    try:
        owners: Dict[str, str] = {}
        for conversation_id in ids:
            conversation = await storage.get_conversation(conversation_id)
            assert conversation.state.value == "agent"
            owners[conversation_id] = conversation.agent_id or ""
            episodes = await storage.episodes(conversation_id)
            assert len([e for e in episodes if e.get("assigned_at") is not None]) == 1
    finally:
        storage.dispose()
    for client in [agent_a, agent_b, *shoppers]:
        await client.close()


async def test_a_bridge_killed_mid_turn_loses_nothing(cluster: StartBridge, fake_rasa: FakeRasa,
                                                      fresh_postgres_url: str) -> None:
    survivor = await cluster("survivor")
    doomed = await cluster("doomed", crash_at="turn_acked")
    shopper, session = await shopper_on(doomed.port)
    await shopper.send({"type": "message", "text": "hola", "client_id": "h1"})
    ack = await shopper.wait_type("ack")
    assert ack["client_id"] == "h1"
    await doomed.crashed()  # acknowledged, not answered: the turn is owed

    # the shopper's widget reconnects (through the load balancer: to the survivor)
    # and, with nothing unacknowledged, waits; the survivor's leader finishes the turn
    async def answered() -> bool:
        storage = Storage(fresh_postgres_url)
        try:
            return any(m.sender == "bot" for m in await storage.history(session["conversation_id"]))
        finally:
            storage.dispose()

    again, _ = await reconnect(survivor.port, session["session_id"])
    await wait_until(answered, "the owed turn finished by the other bridge", timeout=40)
    frame = await again.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "bot", timeout=10)
    assert frame["text"] == "Eco: hola"
    assert fake_rasa.processed.count("hola") == 1

    # and the conversation goes on there
    await again.send({"type": "message", "text": "sigo aquí", "client_id": "h2"})
    frame = await again.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "bot"
                                 and f.get("text") == "Eco: sigo aquí")
    await again.close()
    await shopper.close()


async def test_presence_counts_on_every_bridge(cluster: StartBridge, fresh_postgres_url: str) -> None:
    """A shopper connected to bridge A is "present" in the queue bridge B's
    agent sees, and gone once their page closes; an agent connected to B
    counts for A's wait estimate."""
    a = await cluster("a")
    b = await cluster("b")
    _, token = await new_agent_in(fresh_postgres_url, "Marta")
    agent = await agent_on(b.port, token)
    shopper, session = await shopper_on(a.port)
    conversation_id = session["conversation_id"]
    await shopper.send({"type": "message", "text": "agente", "client_id": "q1"})
    status = await shopper.wait_for(lambda f: f.get("type") == "handoff" and f.get("state") == "queued")
    assert status["estimated_wait_s"] is not None  # one agent online, on the other bridge
    entry = await added_to_queue(agent, conversation_id)
    assert entry["present"] is True
    await shopper.close()
    await agent.close()


async def test_a_killed_bridge_s_customer_and_agent_go_on_through_the_load_balancer(
        cluster: StartBridge, fresh_postgres_url: str, tmp_path: Path) -> None:
    """Through HAProxy, as ``make run-scaled`` runs it: the shopper and the
    agent talk; the bridge holding the shopper's socket is killed; both
    reconnect to the same address, land on the other bridge, and lose
    nothing: the shopper's history has every message, the agent's case card
    too, and the conversation goes on."""
    a = await cluster("a")
    b = await cluster("b")
    balancer = await LoadBalancer([a.port, b.port], tmp_path / "haproxy.log").start()
    try:
        _, token = await new_agent_in(fresh_postgres_url, "Marta")
        agent = await agent_on(balancer.port, token)
        shopper, session = await shopper_on(balancer.port)
        conversation_id = session["conversation_id"]
        await queued(shopper)
        await added_to_queue(agent, conversation_id)
        await agent.send({"type": "claim", "conversation_id": conversation_id})
        await agent.wait_type("conversation")
        await agent.send({"type": "message", "conversation_id": conversation_id, "text": "Hola, soy Marta.",
                          "client_id": "a1"})
        await shopper.wait_for(lambda f: f.get("type") == "message" and f.get("text") == "Hola, soy Marta.")
        await shopper.send({"type": "message", "text": "Mi pedido no llega", "client_id": "s1"})
        await shopper.wait_for(lambda f: f.get("type") == "ack" and f.get("client_id") == "s1")
        await agent.wait_for(lambda f: f.get("type") == "message" and f.get("text") == "Mi pedido no llega")

        holder = a if conversation_id in a.log.read_text() else b
        await holder.kill()

        shopper, history = await reconnect(balancer.port, session["session_id"])
        assert [m["text"] for m in history if m["sender"] in ("agent", "customer")][-2:] == \
            ["Hola, soy Marta.", "Mi pedido no llega"]
        agent = await agent_on(balancer.port, token)
        card = await agent.wait_type("conversation")
        assert card["conversation_id"] == conversation_id
        assert "Mi pedido no llega" in [line.get("text") for line in card["history"]]

        await agent.send({"type": "message", "conversation_id": conversation_id, "text": "Lo miro ahora mismo.",
                          "client_id": "a2"})
        # the dead bridge may have died holding the conversation's lock: it expires after LOCK_TTL_S
        await shopper.wait_for(lambda f: f.get("type") == "message" and f.get("text") == "Lo miro ahora mismo.",
                               timeout=LOCK_TTL_S + FRAME_TIMEOUT_S)
        await shopper.send({"type": "message", "text": "Gracias", "client_id": "s2"})
        await agent.wait_for(lambda f: f.get("type") == "message" and f.get("text") == "Gracias")
        await shopper.close()
        await agent.close()
    finally:
        await balancer.stop()
