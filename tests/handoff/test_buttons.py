"""Buttons of a finished step (issue 9): a customer ``message`` frame with a
``payload`` may name the message whose button it is (``reply_to``); the bridge
forwards it to Rasa only while that message is the conversation's latest one
with buttons and the customer has not spoken since. Otherwise the press is
stored (nothing is lost), Rasa never sees it, and the customer is told the step
is over, once. Frames without ``reply_to`` (old clients) act as before."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from handoff.texts import texts_for
from tests.handoff.conftest import FakeRasa, customer

STEP_OVER = texts_for("tu")["step_over"]


async def ask_buttons(client: Any, client_id: str) -> Dict[str, Any]:
    """'botones' → the bot's message with buttons (then "Segundo mensaje")."""
    await client.send({"type": "message", "text": "botones", "client_id": client_id})
    first = await client.wait_for(lambda f: f.get("type") == "message" and f.get("buttons"))
    await client.wait_type("message", text="Segundo mensaje")
    return first


def press(message: Dict[str, Any], n: int, client_id: str, reply_to: Any = "same") -> Dict[str, Any]:
    button = message["buttons"][n]
    frame = {"type": "message", "text": button["title"], "payload": button["payload"], "client_id": client_id}
    if reply_to is not None:
        frame["reply_to"] = message["id"] if reply_to == "same" else reply_to
    return frame


def rasa_texts(fake_rasa: FakeRasa) -> List[str]:
    return [c["message"] for c in fake_rasa.webhook_calls]


@pytest.mark.asyncio
async def test_the_current_buttons_act_and_a_second_press_of_them_does_not(start_bridge, fake_rasa: FakeRasa,
                                                                          any_db_url: str) -> None:
    server = await start_bridge(database_url=any_db_url)
    client, session = await customer(server)
    asked = await ask_buttons(client, "c1")

    await client.send(press(asked, 0, "p1"))            # the step is current: Rasa gets the payload
    await client.wait_type("message", text="Eco: /order_status")
    await client.send(press(asked, 1, "p2"))            # the same message again: that step is over
    await client.wait_type("ack", client_id="p2")
    over = await client.wait_type("message", sender="system")
    assert over["text"] == STEP_OVER and over["buttons"] == []
    assert rasa_texts(fake_rasa) == ["botones", "/order_status"]

    history = await server.bridge.storage.history(session["conversation_id"])
    stored = [m for m in history if m.client_id == "p2"]
    assert [(m.sender, m.text, m.data.get("payload")) for m in stored] == [
        ("customer", "Hablar con una persona", "/request_human")]           # stored: nothing is lost
    assert await server.bridge.storage.pending_turns(session["conversation_id"]) == []
    conversation = await server.bridge.storage.get_conversation(session["conversation_id"])
    assert conversation.state.value == "bot"                                # never queued by the old button


@pytest.mark.asyncio
async def test_typing_instead_of_pressing_ends_the_step_and_newer_buttons_replace_older(
    start_bridge, fake_rasa: FakeRasa
) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    first = await ask_buttons(client, "c1")
    await client.send({"type": "message", "text": "otra cosa", "client_id": "c2"})
    await client.wait_type("message", text="Eco: otra cosa")
    await client.send(press(first, 0, "p1"))
    assert (await client.wait_type("message", sender="system"))["text"] == STEP_OVER

    second = await ask_buttons(client, "c3")
    third = await ask_buttons(client, "c4")              # asked twice: only the newest buttons are live
    await client.send(press(second, 0, "p2"))
    assert (await client.wait_type("message", sender="system"))["text"] == STEP_OVER
    await client.send(press(third, 0, "p3"))
    await client.wait_type("message", text="Eco: /order_status")
    assert rasa_texts(fake_rasa) == ["botones", "otra cosa", "botones", "botones", "/order_status"]


@pytest.mark.asyncio
async def test_old_clients_without_reply_to_keep_working(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, _ = await customer(server)
    asked = await ask_buttons(client, "c1")
    await client.send(press(asked, 0, "p1", reply_to=None))
    await client.wait_type("message", text="Eco: /order_status")
    await client.send(press(asked, 0, "p2", reply_to=None))
    await client.wait_type("message", text="Eco: /order_status")
    assert rasa_texts(fake_rasa) == ["botones", "/order_status", "/order_status"]


@pytest.mark.asyncio
async def test_reply_to_of_another_conversation_or_unknown_is_refused_and_bad_values_are_errors(
    start_bridge, fake_rasa: FakeRasa
) -> None:
    server = await start_bridge()
    alice, _ = await customer(server)
    bob, _ = await customer(server)
    alices = await ask_buttons(alice, "a1")
    await ask_buttons(bob, "b1")
    await bob.send(press(alices, 0, "b2"))               # Alice's message id in Bob's conversation
    assert (await bob.wait_type("message", sender="system"))["text"] == STEP_OVER
    await bob.send(press(alices, 0, "b3", reply_to="999999"))
    assert (await bob.wait_type("message", sender="system"))["text"] == STEP_OVER
    for bad in ("12a", "-1", "1" * 19, "²"):
        await bob.send(press(alices, 0, "b4", reply_to=bad))
        error = await bob.wait_type("error")
        assert error["code"] == "invalid_field" and error["client_id"] == "b4"
    assert rasa_texts(fake_rasa) == ["botones", "botones"]


@pytest.mark.asyncio
async def test_a_resent_stale_press_is_answered_once(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    client, session = await customer(server)
    asked = await ask_buttons(client, "c1")
    await client.send(press(asked, 0, "p1"))
    await client.wait_type("message", text="Eco: /order_status")
    await client.send(press(asked, 1, "p2"))
    await client.wait_type("message", sender="system")
    await client.send(press(asked, 1, "p2"))             # a resend after a lost ack
    ack = await client.wait_type("ack", client_id="p2")
    frames = await client.barrier()
    assert not [f for f in frames if f.get("type") == "message"]
    history = await server.bridge.storage.history(session["conversation_id"])
    assert [m.text for m in history].count(STEP_OVER) == 1
    assert [m.id for m in history if m.client_id == "p2"] == [int(ack["id"])]
    assert rasa_texts(fake_rasa) == ["botones", "/order_status"]
