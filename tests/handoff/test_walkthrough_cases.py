"""The web widget's side of the Telegram walkthrough of a payment problem
(issue 11): the case keeps its specific reason when the shopper asks for a
person again, attachment wording follows the case, and out of hours the
queued notice comes before the out-of-hours line (live and in a history)."""
from __future__ import annotations

import pytest

from tests.handoff.conftest import CLOSED_TIME, FakeRasa, agent_client, customer, handoff_payload, new_agent
from tests.handoff.test_web_attachments import attachment
from tests.telegram.conftest import PNG_BYTES


@pytest.mark.asyncio
async def test_out_of_hours_the_queued_notice_comes_before_the_out_of_hours_line(
        start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(now=CLOSED_TIME)
    client, session = await customer(server)
    await client.send({"type": "message", "text": "agente", "client_id": "m1"})
    await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system"
                          and f["text"].startswith("Ahora estamos fuera del horario de atención."))
    shown = [f for f in client.seen if f["type"] == "handoff" or (f["type"] == "message" and f["sender"] != "customer")]
    order = [(f["type"], f.get("sender") or f.get("state")) for f in shown]
    # «Te paso…», the queued notice (with the status), then why nobody answers yet
    assert order == [("message", "bot"), ("handoff", "queued"), ("message", "system")], order
    queued = next(f for f in shown if f["type"] == "handoff")
    assert queued["offline"] is True and queued["promise_text"] in shown[-1]["text"]
    await client.close()

    # a reload: the history's queued event is placed before the out-of-hours line, once
    back, _ = await customer(server, session["session_id"])
    history = await back.wait_type("history")
    [event] = history["events"]
    [line] = [m for m in history["messages"] if m["sender"] == "system"]
    assert int(event["id"]) < int(line["id"])
    assert event["text"] == server.bridge.texts["queued_notice"]  # the promise only in the line
    again = await back.wait_type("handoff", state="queued")
    assert again["event_id"] == event["id"]


DESCRIPTION = "me han cobrado dos veces el pedido"


def case(reason: str) -> dict:
    payload = handoff_payload(reason)["handoff"]
    payload["reason_text"] = reason
    payload["details"] = {"description": DESCRIPTION}
    return payload


@pytest.mark.asyncio
@pytest.mark.parametrize("reason, says, never", [
    ("payment_problem", "el justificante o la captura del cargo", "producto"),
    ("damaged_or_wrong_item", "cómo ha llegado el producto", "cargo"),
    ("customer_request", "He pasado tu archivo al equipo: lo verá", "producto"),
])
async def test_a_file_sent_while_queued_is_spoken_of_as_the_case_is_about(
        start_bridge, fake_rasa: FakeRasa, reason: str, says: str, never: str) -> None:
    """Walkthrough: a photo of the charge in a payment case must not be taken
    for a damaged item (nor a damaged item's photo for a receipt); a case
    about something else gets neutral words."""
    server = await start_bridge()
    fake_rasa.case_payload = case(reason)
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, session = await customer(server)
    await client.send({"type": "message", "text": "caso", "client_id": "m1"})
    await client.wait_type("handoff", state="queued")
    # the queue quotes the problem as the shopper described it, not the message that ended the
    # form (in the walkthrough: the e-mail)
    await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"]
                         and f["conversations"][0]["preview"] == DESCRIPTION)
    await client.send(attachment(PNG_BYTES))
    ack = await client.wait_for(lambda f: f.get("type") == "message" and f.get("sender") == "system")
    assert says in ack["text"] and never not in ack["text"], ack["text"]
    assert "mensaje" not in ack["text"] and "Sigues en la cola, en la posición 1." in ack["text"]
    # the placeholder «[Foto]» does not replace the words the agents' queue quotes
    await client.barrier()
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.preview == DESCRIPTION and conversation.reason == reason


@pytest.mark.asyncio
async def test_a_file_is_the_first_thing_a_queued_shopper_sends_it_is_quoted(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, session = await customer(server)
    await client.send({"type": "message", "text": "Hablar con una persona", "payload": "/request_human",
                       "client_id": "m1"})
    await client.wait_type("handoff", state="queued")
    await client.send(attachment(PNG_BYTES))
    await client.wait_type("message", sender="system")
    assert (await server.bridge.storage.get_conversation(session["conversation_id"])).preview == "[Foto]"


@pytest.mark.asyncio
async def test_asking_for_a_person_again_keeps_the_cases_reason_and_queues_once(
        start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    fake_rasa.case_payload = case("payment_problem")
    client, session = await customer(server)
    cid = session["conversation_id"]
    await client.send({"type": "message", "text": "caso", "client_id": "m1"})
    await client.wait_type("handoff", state="queued")
    for n, frame in enumerate([{"text": "Hablar con una persona", "payload": "/request_human"}, {"text": "agente"}]):
        await client.send({"type": "message", "client_id": f"again{n}", **frame})
        await client.wait_type("ack", client_id=f"again{n}")
    await client.barrier()
    conversation = await server.bridge.storage.get_conversation(cid)
    assert conversation.reason == "payment_problem" and conversation.context["reason"] == "payment_problem"
    assert conversation.context["details"]["description"] == DESCRIPTION
    assert len(await server.bridge.storage.episodes(cid)) == 1
    assert fake_rasa.processed == ["caso"]  # while queued nothing reaches the bot
