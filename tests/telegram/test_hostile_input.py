"""Telegram's strings go through the same cleaning as the web's frames
(handoff.frames.clean_text): half an emoji, NUL and other controls in a
text, a name or a button's data are stored and answered, on SQLite and
PostgreSQL, and a text with nothing left gets a Spanish answer."""
from __future__ import annotations

import pytest

from handoff.channels.telegram import BUTTON_GONE, UNSUPPORTED_TEXT
from tests.handoff.conftest import FakeRasa
from tests.telegram.conftest import FakeBotApi, callback_update, message_update, private_chat, user

pytestmark = pytest.mark.asyncio


async def test_unsafe_text_and_names_are_cleaned_stored_and_answered(start_telegram, bot_api: FakeBotApi,
                                                                     fake_rasa: FakeRasa, any_db_url: str) -> None:
    server = await start_telegram(database_url=any_db_url)
    sender = user(first_name="Lu\x00cía \ud83d")
    await bot_api.push(message_update(sender=sender, chat=private_chat(sender["id"], sender["first_name"]),
                                      text="mi pedido \ud83d roto\x00"))
    await bot_api.wait_text("Eco: mi pedido \ufffd roto")
    [conversation_id] = {c["sender"] for c in fake_rasa.webhook_calls}
    history = await server.bridge.storage.history(conversation_id)
    assert history[0].text == "mi pedido \ufffd roto"
    profile = await server.bridge.storage.get_profile(conversation_id)
    assert profile.display_name == "Lucía \ufffd"

    await bot_api.push(message_update(sender=sender, text="\x00\x01"))
    await bot_api.wait_text(UNSUPPORTED_TEXT)
    await bot_api.push(callback_update("b:\x00nada", sender=sender))
    await bot_api.wait_call("answerCallbackQuery")
    assert any(c["method"] == "answerCallbackQuery" and c["params"].get("text") == BUTTON_GONE for c in bot_api.calls)
    await bot_api.push(message_update(sender=sender, text="sigo aquí"))
    await bot_api.wait_text("Eco: sigo aquí")
