"""Telegram conversations in the agent queue: claim, replies, notes, close,
CSAT, attachments and the phone-share verification."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import pytest

from handoff.bridge import ATTACHMENT_KEPT_TEXT
from handoff.channels.telegram import ASSIGNED_TEXT, CONTACT_NOT_OWN, CONTACT_VERIFIED, CSAT_TEXT
from tests.handoff.conftest import VERIFIED_EMAIL, FakeRasa, agent_client, new_agent
from tests.telegram.conftest import PNG_BYTES, FakeBotApi, callback_update, inline_buttons, message_update, user


async def http_get(port: int, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes, Dict[str, str]]:
    """GET from the bridge (async: the bridge runs in this test's loop)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers or {}) as response:
            return response.status, await response.read(), dict(response.headers)


async def queued_on_telegram(server, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> str:
    """/agente from the stand-in user; the conversation id once it is queued."""
    await bot_api.push(message_update(text="/agente"))
    await bot_api.wait_text("Te paso con una persona del equipo.")
    await bot_api.wait_sent(lambda m: m["text"].startswith("Te hemos puesto en la cola"))
    assert fake_rasa.webhook_calls[-1]["message"] == "/request_human"
    return fake_rasa.webhook_calls[-1]["sender"]


@pytest.mark.asyncio
async def test_agente_to_an_agent_and_back_with_csat(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    agent_id, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    cid = await queued_on_telegram(server, bot_api, fake_rasa)
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"])
    entry = queue["conversations"][0]
    assert entry["conversation_id"] == cid and entry["channel"] == "telegram"
    assert entry["customer_name"] == "Lucía" and entry["customer"] is None
    assert all("ESTO NO DEBE LLEGAR" not in t for t in bot_api.texts())

    await agent.send({"type": "claim", "conversation_id": cid})
    card = await agent.wait_type("conversation")
    assert card["channel"] == "telegram" and card["customer_name"] == "Lucía"
    await bot_api.wait_text(ASSIGNED_TEXT.format(agent="Ana"))

    await agent.send({"type": "note", "conversation_id": cid, "text": "NOTA INTERNA: cliente nervioso"})
    await agent.wait_type("note")
    await agent.send({"type": "message", "conversation_id": cid, "text": "Hola, soy Ana. ¿En qué te ayudo?"})
    await bot_api.wait_text("Ana: Hola, soy Ana. ¿En qué te ayudo?")
    # Telegram accepted it for the chat: the console may say "entregado"
    assert (await agent.wait_type("delivered"))["conversation_id"] == cid
    assert not [t for t in bot_api.texts() if "NOTA INTERNA" in t]  # the outbox keeps order: a note would be earlier

    await bot_api.push(message_update(text="Mi paquete no llega"))
    customer_line = await agent.wait_type("message", sender="customer")
    assert customer_line["text"] == "Mi paquete no llega" and customer_line["conversation_id"] == cid

    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    await bot_api.wait_text("Vuelves a estar conmigo, el asistente virtual.")
    # the rating request in the widget's words, naming the agent (one source: handoff/texts.py)
    csat = await bot_api.wait_text(server.bridge.texts.get("csat_ask", agent="Ana"))
    # one line says the bot is back (the tester got "…ha terminado la conversación. Sigo yo…" as well)
    assert not [t for t in bot_api.texts() if "Sigo yo" in t or "ha terminado la conversación" in t]
    scores = inline_buttons(csat)
    assert [b["text"] for b in scores] == ["1", "2", "3", "4", "5"]
    await bot_api.push(callback_update(scores[4]["callback_data"]))
    await bot_api.wait_text("¡Gracias por tu valoración!")
    rows = await server.bridge.storage.csat_rows()
    assert [(r["score"], r["agent_id"], r["conversation_id"]) for r in rows] == [(5, agent_id, cid)]
    await bot_api.push(callback_update(scores[2]["callback_data"]))  # a second press is not stored again
    await bot_api.wait_call("answerCallbackQuery")
    assert len(await server.bridge.storage.csat_rows()) == 1


@pytest.mark.asyncio
async def test_photos_reach_the_agent_as_signed_attachments(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    bot_api.files["ph_big"] = PNG_BYTES
    bot_api.files["doc_1"] = b"%PDF-1.4 recibo"
    photo = [{"file_id": "ph_small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 10},
             {"file_id": "ph_big", "file_unique_id": "b", "width": 800, "height": 600, "file_size": len(PNG_BYTES)}]

    await bot_api.push(message_update(photo=photo))  # with the bot: kept for a person
    await bot_api.wait_text(ATTACHMENT_KEPT_TEXT)
    await bot_api.push(message_update(photo=photo, caption="Así llegó"))  # a caption is read by the bot too
    await bot_api.wait_text("Eco: Así llegó")
    cid = await queued_on_telegram(server, bot_api, fake_rasa)
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": cid})
    card = await agent.wait_type("conversation")
    earlier = [line for line in card["history"] if line.get("attachments")]
    assert [line["text"] for line in earlier] == ["[Foto]", "Así llegó"]
    assert earlier[0]["attachments"][0]["kind"] == "photo"

    await bot_api.push(message_update(document={"file_id": "doc_1", "file_unique_id": "d1", "file_name": "recibo.pdf",
                                                "mime_type": "application/pdf", "file_size": 15}))
    line = await agent.wait_type("message", sender="customer")
    [attachment] = line["attachments"]
    assert {k: attachment[k] for k in ("kind", "name", "content_type")} == {
        "kind": "document", "name": "recibo.pdf", "content_type": "application/pdf"}
    status, body, headers = await http_get(server.port, attachment["url"])
    assert status == 200 and body == b"%PDF-1.4 recibo" and headers["Content-Type"] == "application/pdf"
    assert headers["X-Content-Type-Options"] == "nosniff"

    photo_url = earlier[0]["attachments"][0]["url"]
    status, body, _ = await http_get(server.port, photo_url)
    assert status == 200 and body == PNG_BYTES
    bare = photo_url.split("?")[0]
    assert (await http_get(server.port, bare))[0] == 403
    assert (await http_get(server.port, photo_url.replace("sig=", "sig=x")))[0] == 403
    other = "/attachments/" + attachment["id"] + "?" + photo_url.split("?")[1]  # signature of another file
    assert (await http_get(server.port, other))[0] == 403
    assert (await http_get(server.port, bare, {"Authorization": f"Bearer {token}"}))[0] == 200
    assert (await http_get(server.port, bare, {"Authorization": "Bearer a_1.nope"}))[0] == 403


@pytest.mark.asyncio
async def test_own_contact_verifies_a_forwarded_one_does_not(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    customer = await server.bridge.store.get_customer_by_email(VERIFIED_EMAIL)
    assert customer is not None
    digits = "".join(ch for ch in customer.phone if ch.isdigit())  # Telegram sends digits, without "+"
    me = user()

    forwarded = {"phone_number": digits, "first_name": customer.name, "user_id": 999}  # someone else's card
    await bot_api.push(message_update(sender=me, contact=forwarded))
    await bot_api.wait_text(CONTACT_NOT_OWN)
    assert not [c for c in fake_rasa.api_calls if c["path"].endswith("/slots")]

    own = {"phone_number": digits, "first_name": "Lucía", "user_id": me["id"]}
    await bot_api.push(message_update(sender=me, contact=own))
    confirmation = await bot_api.wait_text(CONTACT_VERIFIED.format(name=customer.name.split()[0]))
    assert confirmation["reply_markup"] == {"remove_keyboard": True}
    [slots_call] = [c for c in fake_rasa.api_calls if c["path"].endswith("/slots")]
    assert slots_call["auth_ok"] is True
    slots = slots_call["body"]["slots"]
    assert slots == {"email": VERIFIED_EMAIL, "verified_email": VERIFIED_EMAIL,
                     "customer_id": str(customer.id), "customer_name": customer.name}

    cid = await queued_on_telegram(server, bot_api, fake_rasa)
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"])
    assert queue["conversations"][0]["customer"]["email"] == VERIFIED_EMAIL
    await agent.send({"type": "claim", "conversation_id": cid})
    card = await agent.wait_type("conversation")
    context = card["context"]
    assert context["customer"]["verified_by"] == "telegram_phone" and context["customer"]["name"] == customer.name
    assert context["orders"] and "orders_error" not in context


@pytest.mark.asyncio
async def test_a_queued_customer_goes_back_to_the_bot_with_the_button(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    from tests.handoff.conftest import QUEUE_LEFT_LINE

    server = await start_telegram()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    cid = await queued_on_telegram(server, bot_api, fake_rasa)
    queued = await bot_api.wait_sent(lambda m: m["text"].startswith("Te hemos puesto en la cola"))
    [leave] = inline_buttons(queued)
    assert leave["text"] == "Volver al asistente"
    await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"])

    await bot_api.push(callback_update(leave["callback_data"], message_id=queued["message_id"]))
    line = await bot_api.wait_text(QUEUE_LEFT_LINE)
    assert not [t for t in bot_api.texts() if "Has salido de la cola" in t]  # one line, not two
    assert [b["text"] for b in inline_buttons(line)] == ["Hablar con una persona"]
    await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"] == [])
    # the queued notice loses its button; no rating is asked
    await bot_api.wait_calls(lambda c: c["method"] == "editMessageReplyMarkup"
                             and c["params"]["message_id"] == queued["message_id"])
    assert CSAT_TEXT not in bot_api.texts() and not [t for t in bot_api.texts() if "Valóralo" in t]
    [episode] = await server.bridge.storage.episodes(cid)
    assert episode["outcome"] == "withdrawn"
    # the bot answers again
    await bot_api.push(message_update(text="hola"))
    await bot_api.wait_text("Eco: hola")


@pytest.mark.asyncio
async def test_a_text_leaves_the_queue_and_the_button_goes_once_claimed(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await queued_on_telegram(server, bot_api, fake_rasa)
    await bot_api.push(message_update(text="mejor sigo con el bot"))
    from tests.handoff.conftest import QUEUE_LEFT_LINE
    await bot_api.wait_text(QUEUE_LEFT_LINE)

    def notices() -> List[Dict[str, Any]]:
        return [m for m in bot_api.sent if m["text"].startswith("Te hemos puesto en la cola")]

    await bot_api.push(message_update(text="/agente"))            # again, and this time claimed
    await bot_api.wait_sent(lambda _: len(notices()) >= 2)
    queued = notices()[-1]
    cid = fake_rasa.webhook_calls[-1]["sender"]
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await bot_api.wait_text(ASSIGNED_TEXT.format(agent="Ana"))
    await bot_api.wait_calls(lambda c: c["method"] == "editMessageReplyMarkup"
                             and c["params"]["message_id"] == queued["message_id"])
    # a press of the old button now: for the agent, and the customer is told who attends them
    [leave] = inline_buttons(queued)
    await bot_api.push(callback_update(leave["callback_data"], message_id=queued["message_id"]))
    assert (await agent.wait_type("message", sender="customer"))["text"] == "Volver al asistente"
    await bot_api.wait_text(server.bridge.texts.get("queue_exit_too_late", agent="Ana"))
    assert (await server.bridge.storage.get_conversation(cid)).state.value == "agent"


@pytest.mark.asyncio
async def test_a_queued_telegram_shopper_is_answered_while_waiting_and_can_brush_the_wait_off(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    """Tester: "necesito hablar con una persona YA" and "olvidalo, ya esta" got
    no reply on Telegram and the chat stayed queued."""
    from tests.handoff.conftest import QUEUE_LEFT_LINE

    server = await start_telegram()
    texts = server.bridge.texts
    cid = await queued_on_telegram(server, bot_api, fake_rasa)
    await bot_api.push(message_update(text="necesito hablar con una persona YA"))
    await bot_api.wait_sent(lambda m: m["text"].startswith(texts.get("queue_ack", position=1)))
    await bot_api.push(message_update(text="hola??"))
    await bot_api.push(message_update(text="olvidalo, ya esta"))
    await bot_api.wait_text(QUEUE_LEFT_LINE)
    # one acknowledgement for the two messages, one line for leaving
    assert len([t for t in bot_api.texts() if t.startswith(texts.get("queue_ack", position=1))]) == 1
    assert (await server.bridge.storage.get_conversation(cid)).state.value == "bot"


@pytest.mark.asyncio
async def test_agente_again_while_queued_says_the_place_and_queues_once(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    """The walkthrough's second /agente got «He pasado tu mensaje al equipo… Sigues en la cola»."""
    server = await start_telegram()
    conversation_id = await queued_on_telegram(server, bot_api, fake_rasa)
    calls = len(fake_rasa.webhook_calls)
    await bot_api.push(message_update(text="/agente"))
    again = await bot_api.wait_sent(lambda m: m["text"].startswith("Ya estás en la cola"))
    assert "posición 1" in again["text"]
    assert len(fake_rasa.webhook_calls) == calls  # never a second handoff turn
    assert not any(t.startswith("He pasado tu mensaje") for t in bot_api.texts())
    episodes = await server.bridge.storage.queue()
    assert [c.id for c in episodes] == [conversation_id]
