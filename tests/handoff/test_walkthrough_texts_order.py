"""Issue 9, a new-user walkthrough: the bridge's own words (number agreement,
no gendered words for the shopper, one wording per speaker), the real order of
handoff notices in a resumed history, and the agents' queue preview quoting
what the shopper wrote (never a command or a button)."""
from __future__ import annotations

import re

import pytest

from handoff.texts import VOICES, texts_for
from tests.handoff.conftest import FakeRasa, agent_client, customer, new_agent, queued_customer

# words that make the shopper masculine (or feminine): the texts speak to anyone
GENDERED = re.compile(r"\b(el|la) (siguiente|primer[oa]|últim[oa])\b|\b(bienvenid|list|segur|encantad|atent)[oa]s?\b",
                      re.IGNORECASE)


def test_wait_estimates_agree_in_number() -> None:
    """«Espera estimada: unos 1 min.» was shown for a wait of 60-89 s."""
    from handoff.texts import wait_text  # one function for every channel (new with this fix)

    assert wait_text(None) == ""
    assert wait_text(20) == "menos de un minuto"
    assert wait_text(70) == "un minuto"
    assert wait_text(300) == "unos 5 minutos"
    assert wait_text(3600) == "una hora"
    assert wait_text(3660) == "una hora y 1 minuto"
    assert wait_text(2 * 3600 + 600) == "unas 2 horas y 10 minutos"
    assert wait_text(30 * 3600) == "más de un día"
    assert wait_text(50 * 3600) == "más de 2 días"


@pytest.mark.parametrize("voice", VOICES)
def test_no_text_genders_the_shopper_or_mixes_who_speaks(voice: str) -> None:
    texts = texts_for(voice)
    every = {key: texts[key] for key in texts.keys()}
    gendered = {key: m.group() for key, text in every.items() for m in [GENDERED.search(text)] if m}
    assert gendered == {}, gendered
    # the queue is the team's ("we") on every channel: Telegram says what the widget says
    assert texts["tg_queued"].startswith(texts["queued_notice"])
    assert texts["tg_queued_next"].startswith(texts["queued_notice"])
    assert not [key for key, text in every.items() if re.search(r"\b(Te|Le) he puesto\b", text)]
    # "{minutes} min" read "1 min" / "unos 1 min": estimates are words now
    assert not [key for key, text in every.items() if "{minutes}" in text]
    # one message, one speaker: never "hemos terminado la espera" followed by "Sigues conmigo"
    assert not [key for key, text in every.items() if re.search(r"\bhemos\b", text) and "conmigo" in text]


@pytest.mark.asyncio
async def test_the_estimate_is_said_in_words_on_the_queue_ack(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge(default_handling_s=70)  # one ahead-or-own turn: 70 s, «unos 1 min» before
    client, _, handoff = await queued_customer(server)
    assert handoff["estimated_wait_s"] == 70 and handoff["wait_text"] == "un minuto"
    await client.send({"type": "message", "text": "¿queda mucho?", "client_id": "w1"})
    ack = await client.wait_type("message", sender="system")
    assert ack["text"].endswith(" Espera estimada: un minuto."), ack["text"]


@pytest.mark.asyncio
async def test_a_resumed_history_places_the_join_notice_before_the_agents_first_message(
        start_bridge, fake_rasa: FakeRasa) -> None:
    """The shopper reloads (or was away) while Marta claims and writes: the
    history says Marta joined *before* «Hola Julia, soy Marta…», and the
    assigned frame after it names that event, so the widget shows it once."""
    server = await start_bridge()
    _, token = await new_agent(server, "Marta")
    agent = await agent_client(server, token)
    client, session, queued = await queued_customer(server)
    cid = session["conversation_id"]
    assert queued.get("event_id")
    await client.close()
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await agent.send({"type": "message", "conversation_id": cid, "text": "Hola Julia, soy Marta. ¿En qué te ayudo?",
                      "client_id": "a1"})
    await agent.wait_type("ack", client_id="a1")

    back, _ = await customer(server, session["session_id"])
    history = await back.wait_type("history")
    [greeting] = [m for m in history["messages"] if m["sender"] == "agent"]
    events = history["events"]
    assert [(e["state"], e["text"]) for e in events] == [
        ("queued", server.bridge.texts["queued_notice"] + " " + queued["promise_text"]),
        ("assigned", "Marta se ha unido a la conversación")]
    joined = events[1]
    assert joined["agent_name"] == "Marta"
    # the real order: the bot's "Te paso…" < queued < joined < Marta's first message
    bot_line = next(m for m in history["messages"] if m["sender"] == "bot")
    assert int(bot_line["id"]) < int(events[0]["id"]) < int(joined["id"]) < int(greeting["id"])
    state = await back.wait_type("handoff", state="assigned")
    assert state["event_id"] == joined["id"]
    # the notices never appear as messages
    assert not [m for m in history["messages"] if m["sender"] not in ("customer", "bot", "agent", "system")]

    # a close: the ended event names the agent, like the live frame
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    ended = await back.wait_type("handoff", state="ended")
    assert ended["agent_name"] == "Marta" and ended["outcome"] == "closed" and int(ended["event_id"]) > int(greeting["id"])


@pytest.mark.asyncio
async def test_the_queue_preview_is_what_the_shopper_wrote_not_a_button(start_bridge, fake_rasa: FakeRasa) -> None:
    server = await start_bridge()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    client, _ = await customer(server)
    await client.send({"type": "message", "text": "mi chaqueta llegó rota", "client_id": "m1"})
    await client.wait_type("message", sender="bot")
    await client.send({"type": "message", "text": "Hablar con una persona", "payload": "/request_human",
                       "client_id": "m2"})
    await client.wait_type("handoff", state="queued")
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"])
    entry = queue["conversations"][0]
    assert entry["preview"] == "mi chaqueta llegó rota" and entry["preview_note"] is None

    # only a button pressed: no quote, a readable label
    other, _ = await customer(server)
    await other.send({"type": "message", "text": "Hablar con una persona", "payload": "/request_human",
                      "client_id": "o1"})
    await other.wait_type("handoff", state="queued")
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and len(f["conversations"]) == 2)
    entry = queue["conversations"][1]
    assert entry["preview"] is None and entry["preview_note"] == "(pidió hablar con una persona)"
