"""Labels (../shared/design/reports.md, "Labels"): agents add and remove
them on /ws/agent and get the conversation's labels in a ``labels`` frame;
bad labels get a Spanish ``invalid_label`` error and nothing of the frame is
stored; suggestions are the most used labels. Real bridge and clients."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from handoff.labels import MAX_LABELS
from handoff.storage import labels_table
from tests.handoff.conftest import agent_client, new_agent, queued_customer

pytestmark = pytest.mark.asyncio


async def _claimed(server, name: str = "Ana"):
    _, session, _ = await queued_customer(server)
    _, token = await new_agent(server, name)
    agent = await agent_client(server, token)
    cid = session["conversation_id"]
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation", conversation_id=cid)
    return agent, cid, token


async def test_add_and_remove_answer_the_conversations_labels(start_bridge) -> None:
    server = await start_bridge()
    ana, cid, ana_token = await _claimed(server)
    await ana.send({"type": "label", "conversation_id": cid, "add": ["talla", "envío-urgente"], "remove": []})
    frame = await ana.wait_type("labels", conversation_id=cid)
    assert frame["labels"] == ["envío-urgente", "talla"]
    assert set(frame["suggestions"]) == {"talla", "envío-urgente"}
    # adding one twice keeps one; removing one it lacks does nothing
    await ana.send({"type": "label", "conversation_id": cid, "add": ["talla"], "remove": ["talla-xl", "envío-urgente"]})
    assert (await ana.wait_type("labels", conversation_id=cid))["labels"] == ["talla"]
    # no add nor remove: just the labels
    await ana.send({"type": "label", "conversation_id": cid})
    assert (await ana.wait_type("labels", conversation_id=cid))["labels"] == ["talla"]
    assert await server.bridge.storage.labels(cid) == ["talla"]
    # the conversation frame (a reconnection) carries them, and the suggestions
    await ana.close()
    again = await agent_client(server, ana_token)
    card = await again.wait_type("conversation", conversation_id=cid)
    assert card["labels"] == ["talla"] and card["label_suggestions"][0] == "talla"


@pytest.mark.parametrize("bad", ["Talla", "dos palabras", "x" * 33, "", "talla!", "-talla", 5, None])
async def test_bad_labels_get_a_spanish_error_and_nothing_is_stored(start_bridge, bad) -> None:
    server = await start_bridge()
    ana, cid, _ = await _claimed(server)
    await ana.send({"type": "label", "conversation_id": cid, "add": ["buena", bad]})
    error = await ana.wait_type("error", code="invalid_label")
    assert error["conversation_id"] == cid
    assert "etiqueta" in error["detail"].lower()
    assert await server.bridge.storage.labels(cid) == []
    await ana.send({"type": "label", "conversation_id": cid, "add": ["x" * 32]})  # 32 is fine
    assert (await ana.wait_type("labels", conversation_id=cid))["labels"] == ["x" * 32]


@pytest.mark.parametrize("frame, code", [
    ({"add": "talla"}, "invalid_field"),               # not a list
    ({"add": ["talla"], "remove": ["talla"]}, "invalid_label"),
    ({"add": [f"l{n}" for n in range(21)]}, "invalid_label"),
])
async def test_malformed_label_frames(start_bridge, frame, code) -> None:
    server = await start_bridge()
    ana, cid, _ = await _claimed(server)
    await ana.send({"type": "label", "conversation_id": cid, **frame})
    assert (await ana.wait_type("error"))["code"] == code
    assert await server.bridge.storage.labels(cid) == []


async def test_at_most_twenty_labels_a_conversation(start_bridge) -> None:
    server = await start_bridge()
    ana, cid, _ = await _claimed(server)
    await ana.send({"type": "label", "conversation_id": cid, "add": [f"l{n}" for n in range(MAX_LABELS)]})
    assert len((await ana.wait_type("labels"))["labels"]) == MAX_LABELS
    await ana.send({"type": "label", "conversation_id": cid, "add": ["una-mas"]})
    assert "20" in (await ana.wait_type("error", code="invalid_label"))["detail"]
    await ana.send({"type": "label", "conversation_id": cid, "add": ["una-mas"], "remove": ["l0"]})
    assert "una-mas" in (await ana.wait_type("labels"))["labels"]


async def test_unknown_conversation_is_not_found(start_bridge) -> None:
    server = await start_bridge()
    _, token = await new_agent(server, "Ana")
    ana = await agent_client(server, token)
    await ana.send({"type": "label", "conversation_id": "c_nope", "add": ["talla"]})
    assert (await ana.wait_type("error"))["code"] == "not_found"


async def test_suggestions_are_the_most_used_labels_and_the_holder_hears_of_changes(start_bridge) -> None:
    server = await start_bridge()
    ana, first, _ = await _claimed(server, "Ana")
    beto, second, _ = await _claimed(server, "Beto")
    carla, third, _ = await _claimed(server, "Carla")
    for agent, cid, labels in ((ana, first, ["talla", "envio", "regalo"]), (beto, second, ["talla", "envio"]),
                               (carla, third, ["talla"])):
        await agent.send({"type": "label", "conversation_id": cid, "add": labels})
        await agent.wait_type("labels", conversation_id=cid)
    # Ana labels Beto's conversation: both get the labels frame
    await ana.send({"type": "label", "conversation_id": second, "add": ["regalo"]})
    mine = await ana.wait_type("labels", conversation_id=second)
    theirs = await beto.wait_type("labels", conversation_id=second)
    assert mine["labels"] == theirs["labels"] == ["envio", "regalo", "talla"]
    # talla on 3 conversations, envio and regalo on 2 (a tie: alphabetical)
    assert mine["suggestions"] == ["talla", "envio", "regalo"]
    rows = await server.bridge.storage.run(lambda conn: conn.execute(
        select(labels_table.c.label, labels_table.c.added_by).where(labels_table.c.conversation_id == second)).all())
    assert {r.label for r in rows} == {"envio", "regalo", "talla"}
    assert all(r.added_by for r in rows)
