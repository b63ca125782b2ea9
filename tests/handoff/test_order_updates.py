"""Order updates to a web shopper (handoff/shop/notify.py) on a real bridge
with the stand-in Rasa, on SQLite and PostgreSQL: a shopper verified by the
shop's signed identity gets the update live in the open widget (an
``order_update`` frame) and finds it in the history on the next visit; a
repeated event, a second planning and a restart tell nobody twice; the case
card lists what was told."""
from __future__ import annotations

import secrets
from typing import Any

import pytest

from core.shop_signing import identity_signature
from handoff.server import BridgeServer
from handoff.texts import TU_FORMS, texts_for
from tests.handoff.conftest import BridgeFactory, agent_client, customer, new_agent
from tests.handoff.order_updates import NOW, SECRET, SHIPPED, SHOPPER_EMAIL, notifications, post_event, shopper_order

pytestmark = pytest.mark.asyncio


def identity() -> dict:
    return {"email": SHOPPER_EMAIL, "name": "Julia", "ts": NOW, "signature": identity_signature(SECRET, SHOPPER_EMAIL, NOW)}


async def identified(server: BridgeServer, session_id: object = None) -> tuple:
    client, session = await customer(server, session_id, identity=identity())
    await client.send({"type": "message", "text": "hola", "client_id": secrets.token_hex(4)})
    await client.wait_type("message", sender="bot")
    return client, session


async def test_an_identified_shopper_gets_the_update_live_and_on_the_next_visit(
        any_db_url: str, start_bridge: BridgeFactory) -> None:
    server = await start_bridge(database_url=any_db_url, shop_webhook_secret=SECRET)
    client, session = await identified(server)
    order = await shopper_order(server, "processing")
    status, answer = await post_event(server.port, "ship-1", "order.shipped", {"order_id": order.order_id, **SHIPPED})
    assert (status, answer["status"]) == (200, "applied")
    live = await client.wait_type("order_update")
    assert live["order_id"] == order.order_id and live["topic"] == "order.shipped"
    assert live["text"].startswith(f"¡Tu pedido {order.order_id} ya está en camino! Llegará el viernes 28 de noviembre.")
    assert "SEUR0001234567" in live["text"]
    assert [b["title"] for b in live["buttons"]] == ["¿Dónde está ahora?", "Hablar con una persona"]
    assert live["buttons"][0]["payload"] == '/order_status{"order_id":"%s"}' % order.order_id
    await client.close()

    # the shop's retry of the same event and a second planning tell nobody again
    status, answer = await post_event(server.port, "ship-1", "order.shipped", {"order_id": order.order_id, **SHIPPED})
    assert answer["status"] == "duplicate"
    assert server.notifier is not None
    await server.notifier.run_once()
    (row,) = await notifications(server)
    assert (row["channel"], row["state"], row["conversation_id"]) == ("web", "sent", session["conversation_id"])

    again, _ = await customer(server, session["session_id"])
    history = await again.wait_type("history")
    told = [m for m in history["messages"] if m["id"] == live["id"]]
    assert len(told) == 1 and told[0]["text"] == live["text"] and told[0]["sender"] == "system"
    assert [b["title"] for b in told[0]["buttons"]] == ["¿Dónde está ahora?", "Hablar con una persona"]
    await again.close()


async def test_a_restart_tells_the_events_not_yet_told_once(db_url: str, start_bridge: BridgeFactory) -> None:
    """An event applied while nobody planned it (``notified_at`` NULL: the
    bridge stopped first) is told by the next start, once."""
    server = await start_bridge(database_url=db_url, shop_webhook_secret=SECRET)
    client, session = await identified(server)
    await client.close()
    assert server.notifier is not None
    await server.notifier.unlead()  # as if the bridge died before its loop planned it
    order = await shopper_order(server, "shipped")
    await post_event(server.port, "out-1", "order.out_for_delivery", {"order_id": order.order_id})
    assert await notifications(server) == []
    await server.stop()

    restarted = await start_bridge(database_url=db_url, shop_webhook_secret=SECRET)
    again, _ = await customer(restarted, session["session_id"])
    await again.wait_type("history")
    assert restarted.notifier is not None
    while not await notifications(restarted) or (await notifications(restarted))[0]["state"] != "sent":
        await restarted.notifier.run_once()
    (row,) = await notifications(restarted)
    assert row["event_id"] == "out-1"
    await restarted.notifier.run_once()
    history = await restarted.bridge.storage.history(session["conversation_id"])
    assert [m.text for m in history].count(row["body"]["text"]) == 1
    await again.close()


async def test_the_case_card_lists_the_updates_told(db_url: str, start_bridge: BridgeFactory) -> None:
    server = await start_bridge(database_url=db_url, shop_webhook_secret=SECRET)
    client, session = await identified(server)
    order = await shopper_order(server, "shipped")
    await post_event(server.port, "late-1", "order.delayed", {"order_id": order.order_id,
                                                              "expected_delivery": "2025-12-02"})
    update = await client.wait_type("order_update")
    assert update["text"].startswith(f"Lo sentimos: tu pedido {order.order_id} se retrasa. La nueva fecha de entrega "
                                     "es el martes 2 de diciembre.")
    agent_id, token = await new_agent(server, "Marta")
    agent = await agent_client(server, token)
    await client.send({"type": "message", "text": "agente", "client_id": "h1"})
    await client.wait_type("handoff", state="queued")
    await agent.send({"type": "claim", "conversation_id": session["conversation_id"]})
    card = await agent.wait_type("conversation")
    (told,) = card["context"]["notifications"]
    assert (told["order_id"], told["topic"], told["channel"], told["state"]) == (
        order.order_id, "order.delayed", "web", "sent")
    assert told["text"] == update["text"]
    await agent.close()
    await client.close()


async def test_every_order_update_text_has_both_voices() -> None:
    """The updates and the consent replies speak as the store chose: the usted
    texts have none of the tú forms (handoff/texts.py TU_FORMS)."""
    tu, usted = texts_for("tu"), texts_for("usted")
    keys = [k for k in usted.keys() if k.startswith(("upd_", "tg_updates_"))]
    assert len(keys) >= 10
    for key in keys:
        assert not TU_FORMS.search(usted[key]), (key, usted[key])
    for key in ("upd_shipped", "upd_delayed", "upd_late", "upd_refund", "tg_updates_off", "tg_updates_on"):
        assert tu[key] != usted[key] and TU_FORMS.search(tu[key]), key


async def test_a_store_that_says_usted_tells_its_updates_so(db_url: str, start_bridge: BridgeFactory,
                                                            usted_policy: Any) -> None:
    server = await start_bridge(database_url=db_url, shop_webhook_secret=SECRET)
    server.bridge.policy = usted_policy
    client, _ = await identified(server)
    order = await shopper_order(server, "shipped")
    await post_event(server.port, "late-1", "order.delayed", {"order_id": order.order_id,
                                                              "expected_delivery": "2025-12-02"})
    update = await client.wait_type("order_update")
    assert update["text"].startswith(f"Lo sentimos: su pedido {order.order_id} se retrasa.")
    assert "Si lo desea, le paso con una persona del equipo." in update["text"]
    await client.close()


async def test_the_late_check_reads_every_page_of_overdue_orders(
        db_url: str, start_bridge: BridgeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two shipped orders past their date, one a page: both get their apology
    in one check (the first page, already told, hid the second before)."""
    from handoff.shop import notify

    monkeypatch.setattr(notify, "LATE_PAGE", 1)
    server = await start_bridge(database_url=db_url, shop_webhook_secret=SECRET)
    client, _ = await identified(server)
    found = await server.bridge.store.get_customer_by_email(SHOPPER_EMAIL)
    assert found is not None
    orders = [o for o in await server.bridge.store.orders_for_customer(found.id) if o.status == "processing"][:2]
    assert server.notifier is not None
    await server.notifier.unlead()  # the checks below are the only ones
    for n, order in enumerate(orders):
        await post_event(server.port, f"ship-{n}", "order.shipped",
                         {"order_id": order.order_id, **SHIPPED, "expected_delivery": f"2025-11-1{n}"})
    await server.notifier.run_once()
    first = await server.notifier.late_check()
    assert first + await server.notifier.late_check() == 2 and first == 2
    await server.notifier.run_once()
    late = [r for r in await notifications(server) if r["topic"] == "order.late"]
    assert sorted(r["order_id"] for r in late) == sorted(o.order_id for o in orders)
    await client.close()
