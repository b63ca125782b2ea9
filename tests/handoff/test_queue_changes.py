"""Queue updates as changes (docs/protocol.md, "queue_changed"): an agent
that asks for them at auth gets the queue once, then only what changed; an
agent that does not (an older client) still gets the whole ``queue`` frame
on every change. Real bridge, real WebSocket clients."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from handoff.queue import QueueView, queue_changes, view_of
from tests.handoff.conftest import Client, connect, new_agent, queued_customer


def entry(cid: str, preview: str = "hola", **extra: Any) -> Dict[str, Any]:
    return {"conversation_id": cid, "preview": preview, "respond_in_s": 100, **extra}


def apply(shown: List[Dict[str, Any]], frame: Dict[str, Any]) -> List[Dict[str, Any]]:
    """What the console does with a queue_changed frame (handoff/static/agent.js)."""
    by_id = {e["conversation_id"]: e for e in shown}
    for cid in frame["removed"]:
        by_id.pop(cid, None)
    order = [e["conversation_id"] for e in shown if e["conversation_id"] in by_id]
    for e in frame["added"] + frame["updated"]:
        if e["conversation_id"] not in by_id:
            order.append(e["conversation_id"])
        by_id[e["conversation_id"]] = e
    if "order" in frame:
        order = [cid for cid in frame["order"] if cid in by_id]
    return [by_id[cid] for cid in order]


@pytest.mark.parametrize("before, after", [
    ([], [entry("a")]),
    ([entry("a"), entry("b")], [entry("b")]),
    ([entry("a"), entry("b")], [entry("a", "otra cosa"), entry("b")]),
    ([entry("a"), entry("b"), entry("c")], [entry("c"), entry("a"), entry("d")]),   # reordered, one new
    ([entry("a")], []),
])
def test_applying_the_changes_gives_the_new_queue(before: List[Dict[str, Any]], after: List[Dict[str, Any]]) -> None:
    frame, view = queue_changes(view_of(before), after)
    assert frame is not None and frame["type"] == "queue_changed"
    assert apply(before, frame) == after
    assert view == view_of(after)
    # only what changed travels
    assert len(frame["added"]) + len(frame["updated"]) <= len(after)


def test_no_change_sends_nothing_and_the_countdown_is_no_change() -> None:
    queue = [entry("a"), entry("b")]
    assert queue_changes(view_of(queue), queue)[0] is None
    later = [dict(e, respond_in_s=40) for e in queue]  # relative to the send time
    assert queue_changes(view_of(queue), later)[0] is None
    assert queue_changes(QueueView(), [])[0] is None


async def _agent(server: Any, token: str, **auth: Any) -> Client:
    client = await connect(server, "/ws/agent")
    await client.send({"type": "auth", "token": token, **auth})
    await client.wait_type("authenticated")
    return client


@pytest.mark.asyncio
async def test_an_agent_asking_for_changes_gets_the_queue_once_then_only_changes(start_bridge) -> None:
    server = await start_bridge()
    _, token = await new_agent(server, "Ana")
    _, old_token = await new_agent(server, "Olga")
    first_customer, first, _ = await queued_customer(server)
    new = await _agent(server, token, queue_updates="changes")
    old = await _agent(server, old_token)
    whole = await new.wait_type("queue")
    assert [c["conversation_id"] for c in whole["conversations"]] == [first["conversation_id"]]

    second_customer, second, _ = await queued_customer(server)
    added = await new.wait_for(lambda f: f["type"] == "queue_changed" and f["added"])
    assert [c["conversation_id"] for c in added["added"]] == [second["conversation_id"]]
    assert first["conversation_id"] not in [c["conversation_id"] for c in added["added"] + added["updated"]]
    # the older client still gets the whole queue
    await old.wait_for(lambda f: f["type"] == "queue" and
                       [c["conversation_id"] for c in f["conversations"]] == [first["conversation_id"], second["conversation_id"]])

    await new.send({"type": "claim", "conversation_id": first["conversation_id"]})
    removed = await new.wait_for(lambda f: f["type"] == "queue_changed" and f["removed"])
    assert removed["removed"] == [first["conversation_id"]]
    # after the first frame, the new client never got a whole queue again
    assert [f for f in new.seen if f["type"] == "queue"] == [whole]
    shown = whole["conversations"]
    for frame in (f for f in new.seen if f["type"] == "queue_changed"):
        shown = apply(shown, frame)
    assert [c["conversation_id"] for c in shown] == [second["conversation_id"]]
    for client in (new, old, first_customer, second_customer):
        await client.ws.close()
