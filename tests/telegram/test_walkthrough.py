"""Issue 9 on Telegram (a new-user walkthrough): the queued notice in the
team's words and gender-neutral, the close notice the widget shows, the
rating keyboard gone once rated, a photo's caption read by the bot, and the
agents' queue quoting words, never «/agente»."""
from __future__ import annotations

import pytest

from tests.handoff.conftest import FakeRasa, agent_client, new_agent
from tests.telegram.conftest import PNG_BYTES, FakeBotApi, callback_update, inline_buttons, message_update

PHOTO = [{"file_id": "ph_big", "file_unique_id": "b", "width": 800, "height": 600, "file_size": len(PNG_BYTES)}]


@pytest.mark.asyncio
async def test_queued_notice_is_the_teams_and_speaks_to_anyone(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    await start_telegram(default_handling_s=70)
    await bot_api.push(message_update(text="/agente"))
    # «Te he puesto…» on Telegram, «Te hemos puesto…» on the web: now the web's words
    queued = await bot_api.wait_sent(lambda m: m["text"].startswith(
        "Te hemos puesto en la cola para hablar con una persona del equipo. "))
    assert "Nadie va delante de ti" in queued["text"] and "siguiente" not in queued["text"]
    assert " Espera estimada: un minuto." in queued["text"], queued["text"]


async def closed_by(server, bot_api: FakeBotApi, agent_name: str) -> None:
    """/agente, claimed and closed by ``agent_name``."""
    _, token = await new_agent(server, agent_name)
    agent = await agent_client(server, token)
    await bot_api.push(message_update(text="/agente"))
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"])
    cid = queue["conversations"][0]["conversation_id"]
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})


@pytest.mark.asyncio
async def test_an_agents_close_is_announced_as_on_the_web(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    await closed_by(server, bot_api, "Marta")
    ended = await bot_api.wait_text("La conversación con Marta ha terminado.")
    back = await bot_api.wait_text("Vuelves a estar conmigo, el asistente virtual.")
    assert ended["message_id"] < back["message_id"]  # the notice, then the bot's line (as in the widget)


@pytest.mark.asyncio
async def test_the_rating_keyboard_goes_once_rated(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    await closed_by(server, bot_api, "Marta")
    csat = await bot_api.wait_text(server.bridge.texts.get("csat_ask", agent="Marta"))
    scores = inline_buttons(csat)
    await bot_api.push(callback_update(scores[3]["callback_data"], message_id=csat["message_id"]))
    await bot_api.wait_text("¡Gracias por tu valoración!")
    # the 1-5 keyboard is removed from the rated message: no second press to refuse
    await bot_api.wait_calls(lambda c: c["method"] == "editMessageReplyMarkup"
                             and c["params"]["message_id"] == csat["message_id"])
    assert [r["score"] for r in await server.bridge.storage.csat_rows()] == [4]


@pytest.mark.asyncio
async def test_a_photo_caption_is_the_shoppers_message_for_the_bot(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    bot_api.files["ph_big"] = PNG_BYTES
    caption = "mira como ha llegado la chaqueta, rota"
    await bot_api.push(message_update(photo=PHOTO, caption=caption))
    answer = await bot_api.wait_text(f"Eco: {caption}")   # the stand-in Rasa read the caption
    kept = await bot_api.wait_text(server.bridge.texts["attachment_kept_caption"])
    assert kept["message_id"] < answer["message_id"]
    assert caption in fake_rasa.processed
    assert server.bridge.texts["attachment_kept"] not in bot_api.texts()   # not "no puedo ver imágenes"
    cid = fake_rasa.webhook_calls[-1]["sender"]
    [stored] = [m for m in await server.bridge.storage.history(cid) if m.sender == "customer"]
    assert stored.text == caption and stored.data["attachments"][0]["kind"] == "photo"  # kept as today
    assert await server.bridge.storage.pending_turns(cid) == []                       # answered, once

    # without a caption nothing goes to Rasa: the file is kept for a person
    await bot_api.push(message_update(photo=PHOTO))
    await bot_api.wait_text(server.bridge.texts["attachment_kept"])
    assert fake_rasa.processed == [caption]


@pytest.mark.asyncio
async def test_the_queue_preview_never_quotes_a_command(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await bot_api.push(message_update(text="/agente"))
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and f["conversations"])
    entry = queue["conversations"][0]
    assert entry["preview"] is None and entry["preview_note"] == "(pidió hablar con una persona)"

    # words before the command: those are quoted
    from tests.telegram.conftest import user
    other = user(user_id=888, first_name="Julia")
    await bot_api.push(message_update(sender=other, text="mi paquete no llega"))
    await bot_api.wait_text("Eco: mi paquete no llega")
    await bot_api.push(message_update(sender=other, text="/agente"))
    queue = await agent.wait_for(lambda f: f["type"] == "queue" and len(f["conversations"]) == 2)
    assert queue["conversations"][1]["preview"] == "mi paquete no llega"
    # a command while queued does not replace it either
    await bot_api.push(message_update(sender=other, text="/agente"))
    await bot_api.wait_sent(lambda m: m["chat_id"] == 888 and m["text"].startswith(
        server.bridge.texts.get("queue_already", position=2)))
    assert (await server.bridge.storage.queue())[1].preview == "mi paquete no llega"
