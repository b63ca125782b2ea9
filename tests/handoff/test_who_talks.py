"""One owner of "who talks": the bridge's state machine. Whatever happens to
Rasa around a handoff (a resume that fails, no secret for Rasa's channel, Rasa
down or restarted with an empty memory), the customer is never left in
silence: the next message is answered, or apologised for with the offer of a
person."""
from __future__ import annotations

import pytest

from handoff.bridge import APOLOGY, RESUMED_TEXT
from tests.handoff.conftest import FakeRasa, agent_client, customer, new_agent, queued_customer

pytestmark = pytest.mark.asyncio


async def _assigned(server):
    cust, session, _ = await queued_customer(server)
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": session["conversation_id"]})
    await agent.wait_type("conversation")
    await cust.wait_type("handoff", state="assigned")
    return cust, agent, session["conversation_id"]


async def _close(agent, cid: str) -> None:
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    await agent.wait_type("closed", conversation_id=cid)


async def test_a_failed_resume_still_says_the_bot_is_back_and_answers_next(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    cust, agent, cid = await _assigned(server)
    fake_rasa.fail_resume = True
    await _close(agent, cid)
    back = await cust.wait_type("message")
    assert back["sender"] == "system" and back["text"] == RESUMED_TEXT
    await cust.wait_type("csat_request")
    await cust.send({"type": "message", "text": "¿cuánto tarda el envío?", "client_id": "n1"})
    assert (await cust.wait_type("message", sender="bot"))["text"] == "Eco: ¿cuánto tarda el envío?"
    assert not await server.bridge.storage.pending_turns()


async def test_without_rasas_secret_every_turn_is_answered_and_a_person_reachable(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(rasa_bridge_secret="")
    cust, session = await customer(server)
    await cust.send({"type": "message", "text": "hola", "client_id": "a1"})
    apology = await cust.wait_type("message", sender="system")
    assert apology["text"] == APOLOGY and apology["buttons"][0]["payload"] == "/request_human"
    await cust.send({"type": "message", "text": "Hablar con una persona", "payload": "/request_human", "client_id": "a2"})
    queued = await cust.wait_type("handoff", state="queued")
    assert queued["position"] == 1
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.reason == "rasa_down"
    assert fake_rasa.webhook_calls == []  # the calls never left the bridge without the secret
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": session["conversation_id"]})
    await agent.wait_type("conversation")
    await _close(agent, session["conversation_id"])
    assert (await cust.wait_type("message", sender="system", text=RESUMED_TEXT))["text"] == RESUMED_TEXT
    await cust.wait_type("csat_request")


async def test_rasa_down_at_the_close_then_restarted_empty_the_next_message_is_answered(start_bridge,
                                                                                        fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    cust, agent, cid = await _assigned(server)
    host, port = fake_rasa.url.removeprefix("http://").split(":")
    await fake_rasa.stop()  # Rasa is gone: connection refused
    await _close(agent, cid)
    assert (await cust.wait_type("message", sender="system"))["text"] == RESUMED_TEXT
    await cust.wait_type("csat_request")

    restarted = await FakeRasa().serve(host, int(port))  # a new process: it remembers nothing
    try:
        await cust.send({"type": "message", "text": "sigo aquí", "client_id": "r1"})
        assert (await cust.wait_type("message", sender="bot"))["text"] == "Eco: sigo aquí"
        assert restarted.processed == ["sigo aquí"]
    finally:
        await restarted.stop()
