"""Telegram and finished steps (issue 9): a pressed keyboard is removed
(editMessageReplyMarkup), so is one superseded by newer buttons or by the
customer writing; a press on an old keyboard is answered "Ese paso ya ha
terminado" (answerCallbackQuery) and goes through the bridge's rule (stored,
never sent to Rasa, told in a system message). And every text the channel
writes follows the store's voice (usted here)."""
from __future__ import annotations

from typing import Any, Dict, List, Set

import pytest

from core.policy import StorePolicy
from handoff.channels.telegram import help_text
from handoff.texts import TU_FORMS, texts_for
from tests.handoff.conftest import (
    VERIFIED_EMAIL,
    FakeRasa,
    agent_client,
    new_agent,
    usted_policy,  # noqa: F401  (fixture used by name)
)
from tests.telegram.conftest import PNG_BYTES, FakeBotApi, callback_update, inline_buttons, message_update, user

pytestmark = pytest.mark.asyncio
STEP_OVER = texts_for("tu")["tg_step_over"]


def edits(bot_api: FakeBotApi) -> List[int]:
    return [int(c["params"]["message_id"]) for c in bot_api.calls if c["method"] == "editMessageReplyMarkup"]


async def wait_edit(bot_api: FakeBotApi, message_id: int) -> None:
    await bot_api.wait_calls(lambda c: c["method"] == "editMessageReplyMarkup"
                             and int(c["params"]["message_id"]) == message_id)


async def asked_times(bot_api: FakeBotApi, count: int) -> List[Dict[str, Any]]:
    """The first ``count`` "¿Qué quieres hacer?" messages (with buttons)."""
    await bot_api.wait_calls(lambda c: c["method"] == "sendMessage" and c["params"].get("text") == "¿Qué quieres hacer?",
                             count)
    await bot_api.wait_sent(lambda m: len([x for x in bot_api.sent if x["text"] == "¿Qué quieres hacer?"]) >= count)
    return [m for m in bot_api.sent if m["text"] == "¿Qué quieres hacer?"][:count]


def callback_answers(bot_api: FakeBotApi) -> List[Any]:
    return [c["params"].get("text") for c in bot_api.calls if c["method"] == "answerCallbackQuery"]


async def test_pressed_and_superseded_keyboards_go_and_old_presses_do_nothing(
    start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa
) -> None:
    server = await start_telegram()
    await bot_api.push(message_update(text="botones"))
    first = await bot_api.wait_text("¿Qué quieres hacer?")
    await bot_api.wait_text("Segundo mensaje")
    buttons = inline_buttons(first)

    await bot_api.push(callback_update(buttons[0]["callback_data"], message_id=first["message_id"]))
    await bot_api.wait_text("Eco: /order_status")
    await wait_edit(bot_api, first["message_id"])          # the pressed keyboard is removed

    # the same (old) keyboard again, as if the edit had not reached the phone
    await bot_api.push(callback_update(buttons[1]["callback_data"], message_id=first["message_id"]))
    await bot_api.wait_text(server.bridge.texts["step_over"])
    assert callback_answers(bot_api) == [None, STEP_OVER]
    assert [c["message"] for c in fake_rasa.webhook_calls] == ["botones", "/order_status"]
    cid = fake_rasa.webhook_calls[0]["sender"]
    conversation = await server.bridge.storage.get_conversation(cid)
    assert conversation.state.value == "bot"               # "Hablar con una persona" of a finished step did not queue
    history = await server.bridge.storage.history(cid)
    assert [m.text for m in history if m.sender == "customer"][-1] == "Hablar con una persona"  # stored

    # newer buttons supersede older ones (a photo is not text: only the new keyboard clears it)
    await bot_api.push(message_update(text="botones"))
    second = (await asked_times(bot_api, 2))[1]
    await bot_api.wait_sent(lambda m: m["text"] == "Segundo mensaje" and m["message_id"] > second["message_id"])
    bot_api.files["ph_1"] = PNG_BYTES
    await bot_api.push(message_update(photo=[{"file_id": "ph_1", "file_unique_id": "p", "width": 8, "height": 8,
                                              "file_size": len(PNG_BYTES)}]))
    kept = await bot_api.wait_text(server.bridge.texts["attachment_kept"])
    assert inline_buttons(kept)                            # "Hablar con una persona"
    await wait_edit(bot_api, second["message_id"])
    assert kept["message_id"] not in edits(bot_api)
    await bot_api.push(message_update(text="otra cosa"))   # writing instead of pressing ends the step
    await bot_api.wait_text("Eco: otra cosa")
    await wait_edit(bot_api, kept["message_id"])
    # the re-pressed old keyboard is edited again (it was still shown); nothing else twice
    assert edits(bot_api) == [first["message_id"], first["message_id"], second["message_id"], kept["message_id"]]


@pytest.fixture
def policy(usted_policy: StorePolicy) -> StorePolicy:
    """This module runs the bridge in usted."""
    return usted_policy


def rasa_said(fake_rasa: FakeRasa) -> Set[str]:
    """The stand-in Rasa's own lines (it speaks tú: the bot's voice is tested with Rasa)."""
    said = {r.get("text") for replies in fake_rasa.answered.values() for r in replies if r.get("text")}
    return said | {"Vuelves a estar conmigo, el asistente virtual."}


async def test_every_channel_text_in_usted(start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    usted = texts_for("usted")
    me = user()
    await bot_api.push(message_update(text="/start"))
    await bot_api.wait_text(usted["tg_contact_prompt"])
    await bot_api.push(message_update(text="/ayuda"))
    await bot_api.wait_text(help_text(usted, server.bridge.policy.store_name))
    await bot_api.push(message_update(text="/nada"))
    await bot_api.wait_text(usted["tg_unknown_command"] + help_text(usted, server.bridge.policy.store_name))
    await bot_api.push(message_update(sticker={"file_id": "s1", "file_unique_id": "s", "type": "regular",
                                               "width": 10, "height": 10, "is_animated": False, "is_video": False}))
    await bot_api.wait_text(usted["tg_unsupported"])
    await bot_api.push(callback_update("b:nada"))
    await bot_api.wait_calls(lambda c: c["method"] == "answerCallbackQuery")

    customer = await server.bridge.store.get_customer_by_email(VERIFIED_EMAIL)
    assert customer is not None
    digits = "".join(ch for ch in customer.phone if ch.isdigit())
    await bot_api.push(message_update(contact={"phone_number": digits, "first_name": "X", "user_id": 999}))
    await bot_api.wait_text(usted["tg_contact_not_own"])
    await bot_api.push(message_update(contact={"phone_number": "34600000000", "first_name": "X", "user_id": me["id"]}))
    await bot_api.wait_text(usted["tg_contact_unknown"])
    await bot_api.push(message_update(contact={"phone_number": digits, "first_name": "X", "user_id": me["id"]}))
    await bot_api.wait_text(usted.get("tg_contact_verified", name=customer.name.split()[0]))

    await bot_api.push(message_update(text="botones"))
    asked = await bot_api.wait_text("¿Qué quieres hacer?")
    await bot_api.push(message_update(text="otra cosa"))
    await bot_api.wait_text("Eco: otra cosa")
    await bot_api.push(callback_update(inline_buttons(asked)[0]["callback_data"], message_id=asked["message_id"]))
    await bot_api.wait_text(usted["step_over"])

    bot_api.files["ph_1"] = PNG_BYTES
    await bot_api.push(message_update(photo=[{"file_id": "ph_1", "file_unique_id": "p", "width": 8, "height": 8,
                                              "file_size": len(PNG_BYTES)}]))
    await bot_api.wait_text(usted["attachment_kept"])

    await bot_api.push(message_update(text="/agente"))
    await bot_api.wait_sent(lambda m: m["text"].startswith("Le hemos puesto en la cola"))
    cid = fake_rasa.webhook_calls[-1]["sender"]
    _, token = await new_agent(server, "Ana")
    agent = await agent_client(server, token)
    await agent.send({"type": "claim", "conversation_id": cid})
    await agent.wait_type("conversation")
    await bot_api.wait_text(usted.get("tg_assigned", agent="Ana"))
    await agent.send({"type": "close", "conversation_id": cid, "resolution": "resolved"})
    csat = await bot_api.wait_text(usted.get("csat_ask", agent="Ana"))
    await bot_api.push(callback_update(inline_buttons(csat)[4]["callback_data"]))
    await bot_api.wait_text(usted["csat_thanks"])
    await bot_api.push(callback_update(inline_buttons(csat)[3]["callback_data"]))
    await bot_api.wait_calls(lambda c: c["method"] == "answerCallbackQuery"
                             and c["params"].get("text") == usted["tg_csat_not_pending"])

    group = {"id": -100, "type": "group", "title": "Amigos"}
    await bot_api.push(message_update(chat=group, text="hola"))
    await bot_api.wait_text(usted["tg_group"])

    ours = [t for t in bot_api.texts() if t not in rasa_said(fake_rasa)]
    ours += [t for t in callback_answers(bot_api) if t]
    assert len(ours) >= 18
    tu = [(t, m.group()) for t in ours for m in [TU_FORMS.search(t)] if m]
    assert not tu, f"tú forms sent in usted: {tu}"


async def test_a_buttons_table_from_before_gets_its_message_column(start_telegram, bot_api: FakeBotApi,
                                                                    any_db_url: str) -> None:
    """A deployment from before (no Alembic yet) whose table lacks ``message_id``:
    the start's migration adds it, and its old buttons (no message id) still
    act as before (SQLite and PostgreSQL)."""
    import sqlalchemy as sa

    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
        conn.execute(sa.text("DROP TABLE handoff_telegram_buttons"))
        conn.execute(sa.text("CREATE TABLE handoff_telegram_buttons (id VARCHAR(16) PRIMARY KEY, "
                             "conversation_id VARCHAR(40) NOT NULL, title TEXT NOT NULL, payload TEXT NOT NULL, "
                             "created_at TIMESTAMP NOT NULL)"))
    server = await start_telegram(database_url=any_db_url)
    with engine.begin() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("handoff_telegram_buttons")}
    engine.dispose()
    assert "message_id" in columns
    await bot_api.push(message_update(text="botones"))
    asked = await bot_api.wait_text("¿Qué quieres hacer?")
    await server.bridge.storage.run(lambda conn: conn.execute(sa.text(
        "UPDATE handoff_telegram_buttons SET message_id = NULL")))
    await bot_api.push(message_update(text="otra cosa"))
    await bot_api.wait_text("Eco: otra cosa")
    await bot_api.push(callback_update(inline_buttons(asked)[0]["callback_data"], message_id=asked["message_id"]))
    await bot_api.wait_text("Eco: /order_status")          # an old button without a message id acts as before
