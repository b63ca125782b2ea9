"""Walkthrough: /ayuda offered the «Compartir mi teléfono» button again to a
chat already verified by its phone (and /start did too). A chat whose
customer is known is never asked to share the phone again; one that is not
still gets the offer."""
from __future__ import annotations

import pytest

from core.policy import load_policy
from handoff.channels.telegram import CONTACT_PROMPT, CONTACT_VERIFIED, help_text
from handoff.texts import TU
from tests.handoff.conftest import VERIFIED_EMAIL, FakeRasa
from tests.telegram.conftest import FakeBotApi, message_update, user

HELP_TEXT_NOW = help_text(TU, load_policy().store_name)


def contact_offers(bot_api: FakeBotApi) -> int:
    """Messages that came with the request_contact keyboard."""
    return sum(1 for m in bot_api.sent
               if any(b.get("request_contact") for row in (m.get("reply_markup") or {}).get("keyboard", [])
                      for b in row))


@pytest.mark.asyncio
async def test_a_chat_verified_by_phone_is_not_offered_the_phone_button_again(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    me = user()
    await bot_api.push(message_update(sender=me, text="/start"))
    await bot_api.wait_text(CONTACT_PROMPT)
    await bot_api.push(message_update(sender=me, text="/ayuda"))   # not verified yet: offered again
    await bot_api.wait_text(HELP_TEXT_NOW)
    await bot_api.push(message_update(sender=me, text="uno"))
    await bot_api.wait_text("Eco: uno")                             # the outbox is in order: all sent
    assert contact_offers(bot_api) == 2

    found = await server.bridge.store.get_customer_by_email(VERIFIED_EMAIL)
    assert found is not None
    digits = "".join(ch for ch in found.phone if ch.isdigit())
    await bot_api.push(message_update(sender=me, contact={"phone_number": digits, "first_name": "Luis",
                                                          "user_id": me["id"]}))
    await bot_api.wait_text(CONTACT_VERIFIED.format(name=found.name.split()[0]))

    helps = bot_api.texts().count(HELP_TEXT_NOW)
    await bot_api.push(message_update(sender=me, text="/ayuda"))
    await bot_api.wait_sent(lambda m: bot_api.texts().count(HELP_TEXT_NOW) > helps)
    await bot_api.push(message_update(sender=me, text="/start"))
    await bot_api.wait_sent(lambda m: bot_api.texts().count("Eco: /greet") == 2)
    await bot_api.push(message_update(sender=me, text="dos"))
    await bot_api.wait_text("Eco: dos")
    assert contact_offers(bot_api) == 2, bot_api.texts()
    assert bot_api.texts().count(CONTACT_PROMPT) == 2


@pytest.mark.asyncio
async def test_a_chat_verified_with_the_bot_is_not_offered_the_phone_button(
        start_telegram, bot_api: FakeBotApi, fake_rasa: FakeRasa) -> None:
    server = await start_telegram()
    found = await server.bridge.store.get_customer_by_email(VERIFIED_EMAIL)
    assert found is not None
    fake_rasa.verify_as = {"id": str(found.id), "name": found.name, "email": VERIFIED_EMAIL,
                           "verified_order_id": "101490", "verified_by": "order_email"}
    me = user(778, "Luis")
    await bot_api.push(message_update(sender=me, text="verifico"))  # an order and its e-mail, with the bot
    await bot_api.wait_text("Pedido verificado.")
    await bot_api.push(message_update(sender=me, text="/ayuda"))
    await bot_api.wait_text(HELP_TEXT_NOW)
    await bot_api.push(message_update(sender=me, text="tres"))
    await bot_api.wait_text("Eco: tres")
    assert contact_offers(bot_api) == 0, bot_api.texts()
