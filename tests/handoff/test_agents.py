"""Agent side: auth, live queue, claim race, messages, notes, transfers, close."""
from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.handoff.conftest import (
    VERIFIED_EMAIL,
    FakeRasa,
    agent_client,
    connect,
    customer,
    new_agent,
    queued_customer,
)


@pytest.mark.asyncio
async def test_wrong_token_is_refused_with_4401(start_bridge) -> None:
    server = await start_bridge()
    await new_agent(server, "Ana")
    for token in ("a_123.nope", "sin-punto", ""):
        client = await connect(server, "/ws/agent")
        await client.send({"type": "auth", "token": token})
        error = await client.next()
        assert error["type"] == "error" and error["code"] == "unauthorized"
        with pytest.raises(websockets.ConnectionClosed):
            await client.next()
        assert client.ws.close_code == 4401
    client = await connect(server, "/ws/agent")
    await client.send({"type": "claim", "conversation_id": "x"})  # not auth first
    assert (await client.next())["code"] == "unauthorized"


@pytest.mark.asyncio
async def test_agent_sees_the_queue_live(start_bridge) -> None:
    server = await start_bridge()
    _, token = await new_agent(server, "Ana")
    agent = await connect(server, "/ws/agent")
    await agent.send({"type": "auth", "token": token})
    assert (await agent.next())["agent"]["name"] == "Ana"
    assert (await agent.next()) == {"type": "queue", "conversations": []}
    _, session, _ = await queued_customer(server)
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"])
    entry = queue["conversations"][0]
    assert entry["conversation_id"] == session["conversation_id"]
    assert entry["reason"] == "customer_request" and entry["channel"] == "web"
    assert entry["preview"] == "agente" and entry["waiting_since"] and "customer" in entry


@pytest.mark.asyncio
async def test_two_agents_claim_at_once_exactly_one_wins(start_bridge) -> None:
    server = await start_bridge()
    cust, session, _ = await queued_customer(server)
    cid = session["conversation_id"]
    agents = []
    for name in ("Ana", "Beto"):
        _, token = await new_agent(server, name)
        agents.append(await agent_client(server, token))
    await asyncio.gather(*(a.send({"type": "claim", "conversation_id": cid}) for a in agents))
    answers = await asyncio.gather(*(a.wait_for(lambda f: f["type"] in ("conversation", "error")) for a in agents))
    kinds = sorted(f["type"] for f in answers)
    assert kinds == ["conversation", "error"]
    loser = next(f for f in answers if f["type"] == "error")
    assert loser["code"] == "already_claimed"
    winner = next(f for f in answers if f["type"] == "conversation")
    assigned = await cust.wait_type("handoff", state="assigned")
    assert assigned["agent_name"] in ("Ana", "Beto")
    context = winner["context"]
    assert context["reason"] == "customer_request" and context["last_intent"] == "request_human"
    assert context["intents"][0] == {"name": "request_human", "confidence": 0.97, "label": "Pide hablar con una persona"}
    assert context["bot_answers"] == ["Te paso con una persona del equipo."]
    assert [h["sender"] for h in winner["history"]] == ["customer", "bot"]


@pytest.mark.asyncio
async def test_case_card_has_the_verified_customers_orders(start_bridge) -> None:
    server = await start_bridge()
    _, session, _ = await queued_customer(server, "verificado")
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": session["conversation_id"]})
    card = (await agent.wait_type("conversation"))["context"]
    assert card["reason"] == "order_overdue" and card["customer"]["email"] == VERIFIED_EMAIL
    assert card["entities"] == {"order_id": "101490"}
    order = next(o for o in card["orders"] if o["order_id"] == "101490")
    assert order["status"] == "delivered" and order["tracking_number"] == "7282680030"
    assert order["carrier"] == "DHL" and order["tracking_url"].startswith("https://")
    assert order["return_eligibility"]["eligible"] is False
    assert order["return_eligibility"]["reason"] == "window_expired"


async def _assigned(server, name: str = "Ana"):
    cust, session, _ = await queued_customer(server)
    agent_id, token = await new_agent(server, name)
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": session["conversation_id"]})
    await agent.wait_type("conversation")
    await cust.wait_type("handoff", state="assigned")
    return cust, agent, session["conversation_id"], agent_id


@pytest.mark.asyncio
async def test_messages_and_typing_both_ways_and_notes_stay_internal(start_bridge) -> None:
    server = await start_bridge()
    cust, agent, cid, _ = await _assigned(server)
    await agent.send({"type": "typing", "conversation_id": cid})
    assert await cust.wait_type("typing") == {"type": "typing", "sender": "agent"}
    await agent.send({"type": "note", "conversation_id": cid, "text": "NOTA: cliente VIP"})
    note = await agent.wait_type("note")
    assert note["text"] == "NOTA: cliente VIP" and note["agent_name"] == "Ana"
    await agent.send({"type": "message", "conversation_id": cid, "text": "Hola, soy Ana", "client_id": "a1"})
    await agent.wait_type("ack", client_id="a1")
    message = await cust.wait_type("message")
    assert message["sender"] == "agent" and message["text"] == "Hola, soy Ana" and message["agent_name"] == "Ana"
    await cust.send({"type": "typing"})
    assert (await agent.wait_type("typing"))["sender"] == "customer"
    await cust.send({"type": "message", "text": "Gracias", "client_id": "c9"})
    incoming = await agent.wait_type("message")
    assert incoming["conversation_id"] == cid and incoming["sender"] == "customer" and incoming["text"] == "Gracias"
    seen = await cust.barrier()
    assert all("NOTA" not in json.dumps(f) for f in cust.seen + seen)
    history = await server.bridge.storage.history(cid)
    assert "NOTA: cliente VIP" not in [m.text for m in history]
    assert "NOTA: cliente VIP" in [m.text for m in await server.bridge.storage.history(cid, include_notes=True)]


@pytest.mark.asyncio
async def test_only_the_assigned_agent_may_write(start_bridge) -> None:
    server = await start_bridge()
    cust, _, cid, _ = await _assigned(server)
    _, token = await new_agent(server, "Intrusa")
    other = await agent_client(server, token)
    await other.send({"type": "message", "conversation_id": cid, "text": "hola"})
    error = await other.wait_type("error")
    assert error["code"] == "not_assigned" and error["conversation_id"] == cid
    await other.send({"type": "close", "conversation_id": cid})
    assert (await other.wait_type("error"))["code"] == "not_assigned"
    await other.send({"type": "claim", "conversation_id": "c_nope"})
    assert (await other.wait_type("error"))["code"] == "not_found"
    seen = await cust.barrier()
    assert not [f for f in seen if f["type"] == "message"]


@pytest.mark.asyncio
async def test_transfer_to_queue_goes_to_the_front(start_bridge) -> None:
    server = await start_bridge()
    cust, agent, cid, _ = await _assigned(server)
    _, later, _ = await queued_customer(server)
    await agent.send({"type": "transfer", "conversation_id": cid, "to": "queue"})
    await agent.wait_type("released", conversation_id=cid)
    queued = await cust.wait_type("handoff", state="queued")
    assert queued["position"] == 1
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and len(f["conversations"]) == 2)
    assert queue["conversations"][0]["conversation_id"] == cid
    await agent.send({"type": "message", "conversation_id": cid, "text": "sigo aquí"})
    assert (await agent.wait_type("error"))["code"] == "not_assigned"


@pytest.mark.asyncio
async def test_transfer_to_another_agent(start_bridge) -> None:
    server = await start_bridge()
    cust, ana, cid, _ = await _assigned(server)
    beto_id, token = await new_agent(server, "Beto")
    beto = await agent_client(server, token)
    await ana.send({"type": "note", "conversation_id": cid, "text": "Pásalo a devoluciones"})
    await ana.wait_type("note")
    await ana.send({"type": "transfer", "conversation_id": cid, "to": beto_id})
    await ana.wait_type("released", conversation_id=cid)
    handed = await beto.wait_type("conversation", conversation_id=cid)
    assert "Pásalo a devoluciones" in [h["text"] for h in handed["history"] if h["sender"] == "note"]
    assert (await cust.wait_type("handoff", state="assigned"))["agent_name"] == "Beto"
    await beto.send({"type": "message", "conversation_id": cid, "text": "Soy Beto"})
    assert (await cust.wait_type("message"))["agent_name"] == "Beto"
    await ana.send({"type": "transfer", "conversation_id": cid, "to": "a_desconocido"})
    assert (await ana.wait_type("error"))["code"] == "not_found"


@pytest.mark.asyncio
async def test_close_resumes_rasa_through_its_channel_and_stores_csat(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    cust, agent, cid, agent_id = await _assigned(server)
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    await agent.wait_type("closed", conversation_id=cid)
    ended = await cust.wait_type("handoff")
    assert {k: ended[k] for k in ("type", "state", "outcome", "agent_name")} == {
        "type": "handoff", "state": "ended", "outcome": "closed", "agent_name": "Ana"}
    resumed = await cust.wait_type("message")
    assert resumed["sender"] == "bot" and resumed["text"].startswith("Vuelves a estar conmigo")
    request = await cust.wait_type("csat_request")
    # the question itself, in one wording for the widget and Telegram (handoff/texts.py)
    assert request["text"] == "¿Qué tal te ha atendido Ana? Valóralo del 1 (muy mal) al 5 (muy bien)."
    assert fake_rasa.api_calls == [{"path": "/webhooks/bridge/resume", "auth_ok": True,
                                    "body": {"sender": cid, "action": "utter_handoff_resumed"}}]
    await cust.send({"type": "csat", "score": 7})
    assert (await cust.wait_type("error"))["code"] == "invalid_field"
    await cust.send({"type": "csat", "score": 5, "comment": "Muy bien"})
    await cust.wait_type("message", sender="system")
    rows = await server.bridge.storage.csat_rows()
    assert [(r["score"], r["comment"], r["agent_id"], r["reason"]) for r in rows] == [
        (5, "Muy bien", agent_id, "customer_request")]
    [episode] = await server.bridge.storage.episodes(cid)
    assert episode["outcome"] == "closed" and episode["ended_at"] is not None and episode["closed_at"] is not None
    await cust.send({"type": "csat", "score": 4})
    assert (await cust.wait_type("error"))["code"] == "no_csat_pending"
    await cust.send({"type": "message", "text": "hola otra vez"})  # back with the bot
    assert (await cust.wait_type("message"))["text"] == "Eco: hola otra vez"


@pytest.mark.asyncio
async def test_agent_disconnect_grace_then_front_of_queue(start_bridge) -> None:
    server = await start_bridge(agent_grace_s=0.2)
    cust, agent, cid, _ = await _assigned(server)
    _, token = await new_agent(server, "Beto")
    watcher = await agent_client(server, token)
    await agent.close()
    queue = await watcher.wait_for(lambda f: f["type"] == "queue" and f["conversations"])
    assert queue["conversations"][0]["conversation_id"] == cid
    notice = await cust.wait_type("message", sender="system")
    assert "desconectado" in notice["text"]
    assert (await cust.wait_type("handoff", state="queued"))["position"] == 1


@pytest.mark.asyncio
async def test_agent_reconnecting_within_grace_keeps_its_conversations(start_bridge) -> None:
    server = await start_bridge(agent_grace_s=30)
    cust, session, _ = await queued_customer(server)
    cid = session["conversation_id"]
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await agent.close()
    again = await agent_client(server, token)
    back = await again.wait_type("conversation", conversation_id=cid)
    assert back["context"]["reason"] == "customer_request"
    await again.send({"type": "message", "conversation_id": cid, "text": "Sigo contigo"})
    assert (await cust.wait_type("message", sender="agent"))["text"] == "Sigo contigo"


@pytest.mark.asyncio
async def test_a_customer_message_during_the_agents_reconnection_comes_after_the_card(start_bridge) -> None:
    """A customer writes while the reconnecting console's case card is being
    built: the message comes once, after the card (not before it, and not lost
    between the card's history and the live frames)."""
    server = await start_bridge(agent_grace_s=30)
    _, session, _ = await queued_customer(server)
    cid = session["conversation_id"]
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await agent.close()
    bridge = server.bridge
    names = bridge.storage.agent_names
    written = []

    async def names_then_a_message(ids):
        if not written:  # the card's history has been read: the customer writes now
            written.append(await bridge.customer_message(cid, None, "¿sigues ahí?", None, "late"))
        return await names(ids)

    bridge.storage.agent_names = names_then_a_message
    again = await agent_client(server, token)
    card = await again.wait_type("conversation", conversation_id=cid)
    assert "¿sigues ahí?" not in [line["text"] for line in card["history"]]
    late = await again.wait_type("message", conversation_id=cid)
    assert late["text"] == "¿sigues ahí?"
    assert [f for f in again.seen if f.get("type") == "message"] == [late]


@pytest.mark.asyncio
async def test_delivered_means_the_shoppers_page_has_it_not_just_stored(start_bridge) -> None:
    """Tester: a reply to a shopper whose browser had closed showed "entregado".
    The ``ack`` says stored (the console: "enviado"); ``delivered`` comes only
    when the widget confirms it showed the message (``received``)."""
    server = await start_bridge()
    cust, agent, cid, _ = await _assigned(server)
    await agent.send({"type": "message", "conversation_id": cid, "text": "¿Sigues ahí?", "client_id": "a1"})
    ack = await agent.wait_type("ack", client_id="a1")
    line = await cust.wait_type("message", sender="agent")
    assert line["id"] == ack["id"]
    assert not [f for f in await agent.barrier() if f.get("type") == "delivered"]   # stored and sent, not confirmed
    await cust.send({"type": "received", "id": line["id"]})
    assert await agent.wait_type("delivered") == {"type": "delivered", "conversation_id": cid, "id": line["id"]}

    # the shopper's page is gone: stored, acknowledged, never "delivered"
    await cust.close()
    await agent.send({"type": "message", "conversation_id": cid, "text": "Te escribo luego", "client_id": "a2"})
    await agent.wait_type("ack", client_id="a2")
    assert not [f for f in await agent.barrier() if f.get("type") == "delivered"]
    # a confirmation for a message of another conversation, or not an agent's, is ignored
    other, _ = await customer(server)
    await other.send({"type": "received", "id": line["id"]})
    await other.send({"type": "received", "id": "abc"})
    assert (await other.wait_type("error"))["code"] == "invalid_field"
    assert not [f for f in await agent.barrier() if f.get("type") == "delivered"]


@pytest.mark.asyncio
async def test_a_reloaded_console_keeps_the_delivery_marks(start_bridge) -> None:
    """Walkthrough: after a reload the console showed every reply without
    "entregado". The confirmation is stored; the ``conversation`` frame's
    history carries ``delivered_at`` on the confirmed line only."""
    server = await start_bridge()
    cust, session, _ = await queued_customer(server)
    cid = session["conversation_id"]
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await agent.send({"type": "message", "conversation_id": cid, "text": "¿Sigues ahí?", "client_id": "a1"})
    shown = await cust.wait_type("message", sender="agent")
    await cust.send({"type": "received", "id": shown["id"]})
    await agent.wait_type("delivered")
    await cust.close()
    await agent.send({"type": "message", "conversation_id": cid, "text": "Te escribo luego", "client_id": "a2"})
    unseen = await agent.wait_type("ack", client_id="a2")

    again = await agent_client(server, token)
    card = await again.wait_type("conversation", conversation_id=cid)
    lines = {line["id"]: line for line in card["history"]}
    assert lines[shown["id"]].get("delivered_at"), lines[shown["id"]]
    assert "delivered_at" not in lines[unseen["id"]]
    assert all("delivered_at" not in line for line in card["history"] if line["sender"] != "agent")
