"""Telegram customers talk to the same bridge as the web: polling, buttons, commands."""
from __future__ import annotations

import pytest

from core.policy import load_policy
from handoff.channels.telegram import CONTACT_PROMPT, STEP_OVER, UNSUPPORTED_TEXT, help_text
from handoff.texts import TU
from tests.handoff.conftest import FakeRasa
from tests.telegram.conftest import (
    LONG_PAYLOAD,
    FakeBotApi,
    callback_update,
    inline_buttons,
    message_update,
)

HELP_TEXT_NOW = help_text(TU, load_policy().store_name)


@pytest.mark.asyncio
async def test_polling_start_buttons_and_presses(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    await bot_api.push(message_update(text="/start"))
    await bot_api.wait_text("Eco: /greet")  # /start greets through Rasa (payload /greet)
    prompt = await bot_api.wait_text(CONTACT_PROMPT)
    keyboard = prompt["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True

    await bot_api.push(message_update(text="botones"))
    first = await bot_api.wait_text("¿Qué quieres hacer?")
    await bot_api.wait_text("Segundo mensaje")
    buttons = inline_buttons(first)
    assert [b["text"] for b in buttons] == ["Ver mi pedido", "Hablar con una persona"]
    assert all(len(b["callback_data"].encode()) <= 64 and "/" not in b["callback_data"] for b in buttons)

    await bot_api.push(message_update(text="largo"))
    long_button = inline_buttons(await bot_api.wait_text("Elige:"))[0]
    assert len(long_button["callback_data"].encode()) <= 64 < len(LONG_PAYLOAD.encode())
    await bot_api.push(callback_update(long_button["callback_data"]))
    await bot_api.wait_text(f"Eco: {LONG_PAYLOAD}")  # the stored payload went to Rasa
    # a button of a step that is over (the customer went on since): stored, told, never acted on
    await bot_api.push(callback_update(buttons[0]["callback_data"]))
    await bot_api.wait_text(server.bridge.texts["step_over"])
    answers = [c["params"].get("text") for c in bot_api.calls if c["method"] == "answerCallbackQuery"]
    assert answers == [None, STEP_OVER]

    conversation_id = fake_rasa.webhook_calls[0]["sender"]
    assert {c["sender"] for c in fake_rasa.webhook_calls} == {conversation_id}
    assert [c["message"] for c in fake_rasa.webhook_calls] == ["/greet", "botones", "largo", LONG_PAYLOAD]
    conversation = await server.bridge.storage.get_conversation(conversation_id)
    assert conversation.channel == "telegram"
    history = await server.bridge.storage.history(conversation_id)
    assert [m.text for m in history if m.sender == "customer"][-2:] == ["Confirmar", "Ver mi pedido"]


@pytest.mark.asyncio
async def test_help_and_unsupported_types(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    await start_telegram()
    await bot_api.push(message_update(text="/ayuda"))
    await bot_api.wait_text(HELP_TEXT_NOW)
    await bot_api.push(message_update(location={"latitude": 40.41, "longitude": -3.70}))
    await bot_api.wait_text(UNSUPPORTED_TEXT)
    assert fake_rasa.webhook_calls == []


@pytest.mark.asyncio
async def test_an_amount_and_its_currency_stay_on_one_line(start_telegram, bot_api: FakeBotApi) -> None:
    """On a phone "69,00" and "€" must not land on two lines: no-break spaces."""
    await start_telegram()
    await bot_api.push(message_update(text="precio"))
    await bot_api.wait_text("El jersey cuesta 69,00\u00a0€ y el envío 4,95\u00a0€.")
