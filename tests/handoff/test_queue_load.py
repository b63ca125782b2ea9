"""What a queue change costs (issue 11, docs/benchmarks.md "queue and claim"):
the statements of one claim, and the status frames a waiting shopper gets
while the queue moves, which must not grow with the queue's length yet
always end on the truth. Real bridge, real WebSocket clients, SQLite."""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Dict, List

import pytest
from sqlalchemy import event

from handoff.bridge import queueing
from handoff.storage import Agent
from tests.handoff.conftest import CLOSED_TIME, Client, new_agent, queued_customer

QUEUED = 12


def statuses(client: Client) -> List[Dict[str, Any]]:
    return [f for f in client.seen if f.get("type") == "handoff" and f.get("state") == "queued"]


async def _agent(server: Any, name: str = "Ana") -> Agent:
    agent_id, _ = await new_agent(server, name)
    agent = await server.bridge.storage.get_agent(agent_id)
    assert agent is not None
    return agent


@pytest.mark.asyncio
async def test_a_claim_takes_a_bounded_number_of_statements(start_bridge: Any) -> None:
    """One transaction decides and stores the claim; the case card reads the
    history once (it was 17 statements: the row read before, during and
    after the check-and-set, two episode updates, the history twice...)."""
    server = await start_bridge()
    bridge = server.bridge
    client, session, _ = await queued_customer(server)
    agent = await _agent(server)
    await bridge.broadcast_queue()  # nothing else in flight while counting
    statements: List[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    event.listen(bridge.storage.engine, "before_cursor_execute", count)
    try:
        await bridge.claim(agent, session["conversation_id"])
    finally:
        event.remove(bridge.storage.engine, "before_cursor_execute", count)
    assert len(statements) <= 12, "\n".join(statements)
    assigned = await client.wait_type("handoff", state="assigned")
    assert assigned["agent_name"] == "Ana" and assigned["event_id"].isdigit()
    history = await bridge.storage.history(session["conversation_id"], include_notes=True)
    assert max(m.id for m in history) <= int(assigned["event_id"])  # the claim's own event


@pytest.mark.asyncio
async def test_a_waiting_shoppers_status_frames_do_not_grow_with_the_queue(start_bridge: Any) -> None:
    """The last of QUEUED shoppers while every one ahead is claimed, each
    claim's broadcast sent before the next: they used to get one frame per
    claim; now a new place at most every STATUS_SPACING_S, the last one
    always the truth (position 1)."""
    server = await start_bridge()
    bridge = server.bridge
    shoppers = [await queued_customer(server) for _ in range(QUEUED)]
    last = shoppers[-1][0]
    assert shoppers[-1][2]["position"] == QUEUED
    agent = await _agent(server)
    await bridge.broadcast_queue()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _, session, _ in shoppers[:-1]:
        await bridge.claim(agent, session["conversation_id"])
        await bridge.broadcast_queue()
    final = await last.wait_for(lambda f: f.get("type") == "handoff" and f.get("position") == 1)
    elapsed = loop.time() - started
    assert final["wait_text"] == "unos 5 minutos"  # one ahead of nobody: the default handling time
    sent = statuses(last)
    assert sent[-1] is final
    assert len(sent) <= 2 + elapsed / queueing.STATUS_SPACING_S < QUEUED, [f["position"] for f in sent]


@pytest.mark.asyncio
async def test_a_countdown_alone_sends_no_status(start_bridge: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of hours the estimate counts down to the opening every second;
    what the shopper reads ("unas 21 horas y 5 minutos") does not change
    with it, so no frame goes (spacing off: only what is shown decides)."""
    monkeypatch.setattr(queueing, "STATUS_SPACING_S", 0.0)
    server = await start_bridge(now=CLOSED_TIME)
    bridge = server.bridge
    client, _, status = await queued_customer(server)
    await bridge.broadcast_queue()
    await client.barrier()
    bridge.clock = lambda: CLOSED_TIME + dt.timedelta(seconds=1)
    await bridge.broadcast_queue()
    assert [f for f in await client.barrier() if f.get("type") == "handoff"] == []
    # a change the shopper sees is sent at once
    bridge.clock = lambda: CLOSED_TIME + dt.timedelta(minutes=10)
    await bridge.broadcast_queue()
    moved = await client.wait_type("handoff", state="queued")
    assert moved["wait_text"] != status["wait_text"] and moved["position"] == 1
