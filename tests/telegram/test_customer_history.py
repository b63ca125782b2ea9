"""The same customer on the web and on Telegram (issue 10, item 1): a web
shopper verified by order + e-mail and a Telegram chat verified by its own
phone are linked to one store customer, and the Telegram conversation's case
card lists the web one (with its transcript)."""
from __future__ import annotations

import pytest

from handoff.channels.telegram import CONTACT_VERIFIED
from tests.handoff.conftest import VERIFIED_EMAIL, FakeRasa, agent_client, customer, new_agent
from tests.telegram.conftest import FakeBotApi, message_update, user
from tests.telegram.test_handoff import queued_on_telegram


@pytest.mark.asyncio
async def test_web_then_telegram_are_linked_and_the_card_lists_the_web_conversation(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    found = await server.bridge.store.get_customer_by_email(VERIFIED_EMAIL)
    assert found is not None
    fake_rasa.verify_as = {"id": str(found.id), "name": found.name, "email": VERIFIED_EMAIL,
                           "verified_order_id": "101490", "verified_by": "order_email"}
    _, token = await new_agent(server, "Ana")
    ana = await agent_client(server, token)

    web, session = await customer(server)
    web_id = session["conversation_id"]
    await web.send({"type": "message", "text": "verifico", "client_id": "w1"})
    await web.wait_type("message", sender="bot", text="Pedido verificado.")
    await web.send({"type": "message", "text": "agente", "client_id": "w2"})
    await web.wait_type("handoff", state="queued")
    await ana.send({"type": "claim", "conversation_id": web_id})
    await ana.wait_type("conversation", conversation_id=web_id)
    await ana.send({"type": "close", "conversation_id": web_id, "resolution": "unresolved"})
    await web.wait_type("csat_request")
    await web.send({"type": "csat", "score": 2})
    await web.wait_for(lambda f: f.get("csat_score") == 2)

    me = user()
    digits = "".join(ch for ch in found.phone if ch.isdigit())
    await bot_api.push(message_update(sender=me, contact={"phone_number": digits, "first_name": "Luis", "user_id": me["id"]}))
    await bot_api.wait_text(CONTACT_VERIFIED.format(name=found.name.split()[0]))
    tg_id = await queued_on_telegram(server, bot_api, fake_rasa)
    linked = await server.bridge.storage.get_conversation(tg_id)
    assert (linked.channel, linked.customer_id, linked.customer_linked_by) == ("telegram", str(found.id), "telegram_phone")

    await ana.send({"type": "claim", "conversation_id": tg_id})
    card = (await ana.wait_type("conversation", conversation_id=tg_id))["context"]
    assert card["customer"]["verified_by_text"] == "Su teléfono de Telegram"
    [earlier] = card["previous_conversations"]
    assert earlier["conversation_id"] == web_id and earlier["channel_text"] == "Web"
    assert earlier["outcome_text"] == "Cerrada: sin resolver" and earlier["agent_name"] == "Ana" and earlier["csat"] == 2
    await ana.send({"type": "transcript", "conversation_id": web_id})
    transcript = await ana.wait_type("transcript", conversation_id=web_id)
    assert [h["text"] for h in transcript["history"]][:2] == ["verifico", "Pedido verificado."]
