"""Order updates on Telegram (handoff/shop/notify.py, consent.py) against the
stand-in Bot API, with the real bridge and the shop's signed events: a chat
that started the bot and is verified for the customer gets the update once,
with its buttons; /silencio, its button and /avisos turn updates off and on;
a chat that never started gets none; a 403 ("bot was blocked by the user")
marks the chat opted out; the quiet hours hold an update until they end; a
delay is apologised for once per order and date, and so is a shipped order
past its date (the leader's late check)."""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Dict, List, Optional

import pytest

from handoff.channels.telegram import CONTACT_PROMPT
from handoff.channels.telegram.consent import UPDATES_OFF_CALLBACK
from handoff.server import BridgeServer
from handoff.texts import TU
from tests.handoff.order_updates import SECRET, SHIPPED, SHOPPER_EMAIL, notifications, post_event, shopper_order
from tests.telegram.conftest import FakeBotApi, callback_update, inline_buttons, message_update, user

pytestmark = pytest.mark.asyncio
ME = user(901, "Julia")


async def verified_chat(server: BridgeServer, bot_api: FakeBotApi, start: bool = True) -> None:
    """ME's chat, verified for SHOPPER_EMAIL by its own phone (after /start, or a plain hello)."""
    await bot_api.push(message_update(sender=ME, text="/start" if start else "hola"))
    if start:
        await bot_api.wait_text(CONTACT_PROMPT)
    else:
        await bot_api.wait_text("Eco: hola")
    found = await server.bridge.store.get_customer_by_email(SHOPPER_EMAIL)
    assert found is not None
    digits = "".join(ch for ch in found.phone if ch.isdigit())
    await bot_api.push(message_update(sender=ME, contact={"phone_number": digits, "first_name": "Julia",
                                                          "user_id": ME["id"]}))
    await bot_api.wait_text(TU.get("tg_contact_verified", name=found.name.split()[0]))


async def settled(bot_api: FakeBotApi, word: str) -> None:
    """Everything queued for ME before now has been sent (the outbox keeps a chat's order)."""
    await bot_api.push(message_update(sender=ME, text=word))
    await bot_api.wait_text(f"Eco: {word}")


def to_me(bot_api: FakeBotApi, start: str) -> List[Dict[str, Any]]:
    return [m for m in bot_api.sent if m["chat_id"] == ME["id"] and m["text"].startswith(start)]


def outcome_of(server: BridgeServer) -> "asyncio.Future[Optional[str]]":
    """Resolved with the error (None: sent) of the next order update the outbox finishes."""
    assert server.telegram is not None
    future: "asyncio.Future[Optional[str]]" = asyncio.get_running_loop().create_future()

    async def listener(key: Optional[str], error: Optional[str]) -> None:
        if (key or "").startswith("n:") and not future.done():
            future.set_result(error)
    server.telegram.outbox_listeners.append(listener)
    return future


async def test_a_verified_chat_that_started_gets_the_update_once(
        start_telegram, bot_api: FakeBotApi) -> None:
    server = await start_telegram(shop_webhook_secret=SECRET)
    await verified_chat(server, bot_api)
    order = await shopper_order(server, "processing")
    done = outcome_of(server)
    assert (await post_event(server.port, "ship-1", "order.shipped", {"order_id": order.order_id, **SHIPPED}))[0] == 200
    sent = await bot_api.wait_sent(lambda m: m["text"].startswith(f"¡Tu pedido {order.order_id} ya está en camino!"))
    assert sent["chat_id"] == ME["id"] and "SEUR0001234567" in sent["text"]
    assert [b["text"] for b in inline_buttons(sent)] == ["¿Dónde está ahora?", "Hablar con una persona",
                                                         "No quiero avisos"]
    assert await done is None
    # «¿Dónde está ahora?» asks the bot for the order's status
    where = next(b for b in inline_buttons(sent) if b["text"] == "¿Dónde está ahora?")
    await bot_api.push(callback_update(where["callback_data"], sender=ME, message_id=sent["message_id"]))
    await bot_api.wait_text('Eco: /order_status{"order_id":"%s"}' % order.order_id)
    # the shop's retry, another planning and another delivery round: nothing more
    assert (await post_event(server.port, "ship-1", "order.shipped", {"order_id": order.order_id,
                                                                      **SHIPPED}))[1]["status"] == "duplicate"
    assert server.notifier is not None
    await server.notifier.run_once()
    await settled(bot_api, "uno")
    assert len(to_me(bot_api, f"¡Tu pedido {order.order_id}")) == 1
    (row,) = await notifications(server, "telegram")
    assert (row["state"], row["chat_id"]) == ("sent", ME["id"])


async def test_silencio_its_button_and_avisos_turn_updates_off_and_on(
        start_telegram, bot_api: FakeBotApi) -> None:
    server = await start_telegram(shop_webhook_secret=SECRET)
    await verified_chat(server, bot_api)
    order = await shopper_order(server, "shipped")
    await bot_api.push(message_update(sender=ME, text="/silencio"))
    await bot_api.wait_text(TU["tg_updates_off"])
    await post_event(server.port, "out-1", "order.out_for_delivery", {"order_id": order.order_id})
    assert server.notifier is not None
    await server.notifier.run_once()
    (row,) = await notifications(server, "telegram")
    assert (row["state"], row["reason"]) == ("skipped", "off")

    await bot_api.push(message_update(sender=ME, text="/avisos"))
    await bot_api.wait_text(TU["tg_updates_on"])
    await post_event(server.port, "late-1", "order.delayed", {"order_id": order.order_id,
                                                              "expected_delivery": "2025-12-01"})
    sent = await bot_api.wait_sent(lambda m: m["text"].startswith(f"Lo sentimos: tu pedido {order.order_id} se retrasa"))
    off = next(b for b in inline_buttons(sent) if b["text"] == "No quiero avisos")
    assert off["callback_data"] == UPDATES_OFF_CALLBACK
    await bot_api.push(callback_update(off["callback_data"], sender=ME, message_id=sent["message_id"]))
    await bot_api.wait_sent(lambda m: bot_api.texts().count(TU["tg_updates_off"]) == 2)
    await post_event(server.port, "done-1", "order.delivered", {"order_id": order.order_id})
    await server.notifier.run_once()
    states = {r["topic"]: (r["state"], r["reason"]) for r in await notifications(server, "telegram")}
    assert states["order.delivered"] == ("skipped", "off")
    assert not to_me(bot_api, f"Tu pedido {order.order_id} ya está entregado")


async def test_a_chat_that_never_started_gets_no_updates(start_telegram, bot_api: FakeBotApi) -> None:
    server = await start_telegram(shop_webhook_secret=SECRET)
    await verified_chat(server, bot_api, start=False)
    order = await shopper_order(server, "shipped")
    await post_event(server.port, "out-1", "order.out_for_delivery", {"order_id": order.order_id})
    assert server.notifier is not None
    await server.notifier.run_once()
    (row,) = await notifications(server, "telegram")
    assert (row["state"], row["reason"]) == ("skipped", "no_consent")


async def test_a_chat_that_blocked_the_bot_is_marked_opted_out(start_telegram, bot_api: FakeBotApi) -> None:
    server = await start_telegram(shop_webhook_secret=SECRET)
    await verified_chat(server, bot_api)
    order = await shopper_order(server, "shipped")
    bot_api.blocked.add(ME["id"])
    done = outcome_of(server)
    await post_event(server.port, "out-1", "order.out_for_delivery", {"order_id": order.order_id})
    assert "bot was blocked" in (await done or "")
    assert server.telegram is not None
    assert await server.telegram.consent.state(ME["id"]) == "blocked"
    await post_event(server.port, "done-1", "order.delivered", {"order_id": order.order_id})
    assert server.notifier is not None
    await server.notifier.run_once()
    states = {r["topic"]: (r["state"], r["reason"]) for r in await notifications(server, "telegram")}
    assert states["order.out_for_delivery"][0] == "failed"
    assert states["order.delivered"] == ("skipped", "blocked")
    # unblocked and /start again: updates on
    bot_api.blocked.clear()
    await bot_api.push(message_update(sender=ME, text="/start"))
    await bot_api.wait_sent(lambda m: bot_api.texts().count("Eco: /greet") == 2)
    assert await server.telegram.consent.state(ME["id"]) == "on"


async def test_the_quiet_hours_hold_an_update_until_they_end(start_telegram, bot_api: FakeBotApi) -> None:
    night = dt.datetime(2025, 11, 24, 22, 30, tzinfo=dt.timezone.utc)   # 23:30 in Madrid: quiet until 09:00
    server = await start_telegram(now=night, shop_webhook_secret=SECRET)
    assert server.bridge.policy.notification_quiet_hours is not None
    await verified_chat(server, bot_api)
    order = await shopper_order(server, "shipped")
    await post_event(server.port, "out-1", "order.out_for_delivery", {"order_id": order.order_id},
                     ts=int(night.timestamp()))
    assert server.notifier is not None
    await server.notifier.run_once()
    (row,) = await notifications(server, "telegram")
    assert (row["state"], row["reason"]) == ("pending", "quiet_hours")
    assert row["due_at"] == dt.datetime(2025, 11, 25, 8, 0, tzinfo=dt.timezone.utc)   # 09:00 in Madrid
    await settled(bot_api, "uno")
    assert not to_me(bot_api, f"Tu pedido {order.order_id} ya está en reparto")
    morning = dt.datetime(2025, 11, 25, 8, 0, 30, tzinfo=dt.timezone.utc)
    server.bridge.clock = lambda: morning
    server.notifier.wake()
    await bot_api.wait_text(TU.get("upd_out_for_delivery", order=order.order_id)
                            + TU.get("upd_tracking", carrier=order.shipment.carrier,  # type: ignore[union-attr]
                                     tracking=order.shipment.tracking_number)  # type: ignore[union-attr]
                            + TU.get("upd_tracking_url", url=server.bridge.policy.tracking_url(
                                order.shipment.carrier, order.shipment.tracking_number)))  # type: ignore[union-attr]


async def test_a_delay_is_apologised_for_once_per_order_and_date(start_telegram, bot_api: FakeBotApi) -> None:
    server = await start_telegram(shop_webhook_secret=SECRET)
    await verified_chat(server, bot_api)
    order = await shopper_order(server, "shipped")
    apology = f"Lo sentimos: tu pedido {order.order_id} se retrasa. La nueva fecha de entrega es el lunes 1 de diciembre."
    for event_id in ("delay-1", "delay-2"):  # two events, one new date
        await post_event(server.port, event_id, "order.delayed", {"order_id": order.order_id,
                                                                  "expected_delivery": "2025-12-01"})
    await bot_api.wait_sent(lambda m: m["text"].startswith(apology))
    assert "Si quieres, te paso con una persona del equipo." in to_me(bot_api, apology)[0]["text"]
    assert server.notifier is not None
    await server.notifier.run_once()
    await settled(bot_api, "uno")
    assert len(to_me(bot_api, apology)) == 1
    await post_event(server.port, "delay-3", "order.delayed", {"order_id": order.order_id,
                                                               "expected_delivery": "2025-12-03"})
    await bot_api.wait_sent(lambda m: "miércoles 3 de diciembre" in m["text"])


async def test_a_shipped_order_past_its_date_gets_one_apology(start_telegram, bot_api: FakeBotApi) -> None:
    """The leader's late check: expected on the 20th, two grace days, today the 24th."""
    server = await start_telegram(shop_webhook_secret=SECRET)
    await verified_chat(server, bot_api)
    order = await shopper_order(server, "processing")
    await post_event(server.port, "ship-1", "order.shipped", {"order_id": order.order_id, **SHIPPED,
                                                              "expected_delivery": "2025-11-20"})
    await bot_api.wait_sent(lambda m: m["text"].startswith(f"¡Tu pedido {order.order_id} ya está en camino!"))
    assert server.notifier is not None
    assert await server.notifier.late_check() == 1
    await server.notifier.run_once()
    late = await bot_api.wait_sent(lambda m: m["text"].startswith(
        f"Lo sentimos: tu pedido {order.order_id} debía llegar el jueves 20 de noviembre y aún no consta como entregado."))
    assert [b["text"] for b in inline_buttons(late)][1] == "Hablar con una persona"
    assert await server.notifier.late_check() == 0
    await server.notifier.run_once()
    await settled(bot_api, "uno")
    assert len(to_me(bot_api, f"Lo sentimos: tu pedido {order.order_id} debía llegar")) == 1
