"""The store applies a shop's order events once per event id
(``SqlStore.apply_shop_event``), on SQLite and PostgreSQL: status, shipment,
dates, refunds and returns change; a repeated id, or two racing, change
nothing more; an unknown order or return leaves no record."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from typing import Any, Dict, List

import pytest
from sqlalchemy import func, select

from core.shop_events import parse_event
from core.store.errors import IncompleteEvent, UnknownOrder, UnknownReturn
from core.store.models import ShopEventRow
from core.store.sql import SqlStore, moves_back
from core.store.types import ShopEvent

pytestmark = pytest.mark.asyncio
NOW = 1_780_000_000


def event(event_id: str, topic: str, order: Dict[str, Any]) -> ShopEvent:
    return parse_event(json.dumps({"topic": topic, "order": order}).encode(), event_id, NOW)


def order_of(demo_data: Dict[str, Any], status: str) -> Dict[str, Any]:
    return next(o for o in demo_data["orders"] if o["status"] == status)


def recorded(store: SqlStore) -> List[str]:
    return store.run_in_transaction(lambda s: list(s.execute(select(ShopEventRow.event_id)).scalars()))


async def test_shipped_then_delivered_updates_the_order(store: SqlStore, demo_data: Dict[str, Any]) -> None:
    order = order_of(demo_data, "processing")
    outcome = await store.apply_shop_event(event("e-1", "order.shipped", {
        "order_id": order["order_id"], "carrier": "SEUR", "tracking_number": "SEUR123456789",
        "expected_delivery": "2026-12-20"}))
    assert outcome.applied and outcome.order is not None
    assert outcome.order.status == "shipped"
    assert outcome.order.shipment is not None
    assert (outcome.order.shipment.carrier, outcome.order.shipment.tracking_number) == ("SEUR", "SEUR123456789")
    assert outcome.order.shipment.shipped_at == dt.datetime.fromtimestamp(NOW, dt.timezone.utc)
    assert outcome.order.expected_delivery == dt.date(2026, 12, 20)

    await store.apply_shop_event(event("e-2", "order.delayed", {"order_id": order["order_id"],
                                                                "expected_delivery": "2026-12-23"}))
    delivered = await store.apply_shop_event(event("e-3", "order.delivered", {"order_id": order["order_id"]}))
    assert delivered.order is not None and delivered.order.status == "delivered"
    assert delivered.order.expected_delivery == dt.date(2026, 12, 23)
    assert delivered.order.shipment is not None and delivered.order.shipment.delivered_at is not None
    assert sorted(recorded(store)) == ["e-1", "e-2", "e-3"]


async def test_an_older_event_arriving_late_never_moves_the_order_back(store: SqlStore,
                                                                      demo_data: Dict[str, Any]) -> None:
    """Shops deliver webhooks in no guaranteed order: «shipped» retried after «delivered»."""
    order = order_of(demo_data, "shipped")
    await store.apply_shop_event(event("late-2", "order.delivered", {"order_id": order["order_id"]}))
    late = await store.apply_shop_event(event("late-1", "order.shipped", {
        "order_id": order["order_id"], "status": "shipped", "carrier": "SEUR", "tracking_number": "SEUR000111222"}))
    assert late.applied and late.order is not None
    assert late.order.status == "delivered"  # not back to "shipped"
    assert late.order.shipment is not None and late.order.shipment.tracking_number == "SEUR000111222"
    assert not moves_back("delivered", "cancelled") and not moves_back("cancelled", "shipped")  # off the line: as sent
    assert moves_back("out_for_delivery", "processing") and not moves_back("delivered", "returned")


async def test_a_repeated_event_id_is_applied_once(store: SqlStore, demo_data: Dict[str, Any]) -> None:
    order = order_of(demo_data, "shipped")
    first = event("again", "order.out_for_delivery", {"order_id": order["order_id"]})
    assert (await store.apply_shop_event(first)).applied
    await store.apply_shop_event(event("later", "order.delivered", {"order_id": order["order_id"]}))
    repeat = await store.apply_shop_event(first)
    assert not repeat.applied and repeat.order is None
    fresh = await store.get_order(order["order_id"])
    assert fresh is not None and fresh.status == "delivered"  # not set back to out_for_delivery


async def test_two_deliveries_racing_one_id_apply_it_once(store: SqlStore, demo_data: Dict[str, Any]) -> None:
    order = order_of(demo_data, "delivered")
    refunds_before = len((await store.get_order(order["order_id"])).refunds)  # type: ignore[union-attr]
    issued = event("race", "refund.issued", {"order_id": order["order_id"], "refund": {"amount": "10.00"}})
    other = SqlStore(store.database_url)  # another process's engine and pool
    try:
        outcomes = await asyncio.gather(store.apply_shop_event(issued), other.apply_shop_event(issued))
    finally:
        other.dispose()
    assert sorted(o.applied for o in outcomes) == [False, True]
    after = await store.get_order(order["order_id"])
    assert after is not None and len(after.refunds) == refunds_before + 1
    assert store.run_in_transaction(lambda s: s.execute(select(func.count()).select_from(ShopEventRow)).scalar_one()) == 1


async def test_refund_issued_completes_the_open_refund(store: SqlStore, demo_data: Dict[str, Any]) -> None:
    order = order_of(demo_data, "processing")
    cancelled = await store.cancel_order(order["order_id"], refund_days=5)
    assert [r.status for r in cancelled.refunds] == ["pending"]
    outcome = await store.apply_shop_event(event("r-1", "refund.issued", {
        "order_id": order["order_id"], "refund": {"amount": str(cancelled.total), "expected_at": "2026-12-12",
                                                  "issued_at": "2026-12-07T10:00:00Z"}}))
    assert outcome.order is not None and outcome.order.status == "cancelled"
    (refund,) = outcome.order.refunds
    assert (refund.status, refund.amount, refund.expected_at) == ("completed", cancelled.total, dt.date(2026, 12, 12))
    assert refund.completed_at == dt.datetime(2026, 12, 7, 10, tzinfo=dt.timezone.utc)


async def test_return_received_marks_the_return(store: SqlStore, demo_data: Dict[str, Any]) -> None:
    order = order_of(demo_data, "delivered")
    stored = await store.get_order(order["order_id"])
    assert stored is not None
    made = await store.create_return(order["order_id"], [stored.items[0].id], "talla")
    outcome = await store.apply_shop_event(event("ret-1", "return.received", {
        "order_id": order["order_id"], "return_number": made.return_number}))
    assert outcome.order is not None
    assert {r.return_number: r.status for r in outcome.order.returns}[made.return_number] == "received"
    refunded = await store.apply_shop_event(event("ret-2", "refund.issued", {
        "order_id": order["order_id"], "return_number": made.return_number, "refund": {"amount": 12.5}}))
    assert refunded.order is not None
    assert {r.return_number: r.status for r in refunded.order.returns}[made.return_number] == "refunded"
    assert any(r.return_number == made.return_number and r.amount == Decimal("12.50") and r.status == "completed"
               for r in refunded.order.refunds)


async def test_unknown_order_return_or_missing_shipment_leave_no_record(
        store: SqlStore, demo_data: Dict[str, Any]) -> None:
    with pytest.raises(UnknownOrder):
        await store.apply_shop_event(event("u-1", "order.shipped", {"order_id": "999999", "carrier": "SEUR",
                                                                    "tracking_number": "X1"}))
    order = order_of(demo_data, "processing")
    with pytest.raises(UnknownReturn):
        await store.apply_shop_event(event("u-2", "return.received", {"order_id": order["order_id"],
                                                                      "return_number": "DEV-000000"}))
    with pytest.raises(IncompleteEvent):
        await store.apply_shop_event(event("u-3", "order.shipped", {"order_id": order["order_id"]}))
    assert recorded(store) == []
    unchanged = await store.get_order(order["order_id"])
    assert unchanged is not None and unchanged.status == "processing"
