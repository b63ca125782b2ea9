"""Writes: atomic check-and-set cancellation and re-addressing, returns."""
from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any, Dict, Iterator

import pytest

from core.store import sql as sql_module
from core.store.errors import OrderStateChanged, UnknownItems
from core.store.sql import SqlStore
from core.store.types import Address

Data = Dict[str, Any]
REFUND_DAYS = 7
ALLOWED = ("pending_payment", "processing")


def _first(demo_data: Data, status: str) -> Data:
    return next(o for o in demo_data["orders"] if o["status"] == status)


@pytest.mark.asyncio
async def test_cancel_processing_order_creates_refund(store: SqlStore, demo_data: Data) -> None:
    o = _first(demo_data, "processing")
    cancelled = await store.cancel_order(o["order_id"], REFUND_DAYS)
    assert cancelled.status == "cancelled"
    (refund,) = cancelled.refunds
    today = dt.datetime.now(dt.timezone.utc).date()
    assert (refund.amount, refund.status, refund.return_number) == (o["total"], "pending", None)
    assert refund.completed_at is None
    assert refund.expected_at in (today + dt.timedelta(days=REFUND_DAYS), today + dt.timedelta(days=REFUND_DAYS + 1))
    assert await store.get_order(o["order_id"]) == cancelled

    with pytest.raises(OrderStateChanged):
        await store.cancel_order(o["order_id"], REFUND_DAYS)
    again = await store.get_order(o["order_id"])
    assert again is not None and len(again.refunds) == 1


@pytest.mark.asyncio
async def test_cancel_unpaid_order_creates_no_refund(store: SqlStore, demo_data: Data) -> None:
    o = _first(demo_data, "pending_payment")
    cancelled = await store.cancel_order(o["order_id"], REFUND_DAYS)
    assert cancelled.status == "cancelled" and cancelled.refunds == ()


@pytest.mark.asyncio
@pytest.mark.parametrize("status", ["shipped", "out_for_delivery", "delivered", "cancelled", "returned"])
async def test_cancel_refused_once_past_processing(store: SqlStore, demo_data: Data, status: str) -> None:
    o = _first(demo_data, status)
    with pytest.raises(OrderStateChanged):
        await store.cancel_order(o["order_id"], REFUND_DAYS)
    order = await store.get_order(o["order_id"])
    assert order is not None and order.status == status
    assert len(order.refunds) == len(o.get("refunds", []))


@pytest.mark.asyncio
async def test_cancel_unknown_order_raises(store: SqlStore) -> None:
    with pytest.raises(OrderStateChanged):
        await store.cancel_order("000000", REFUND_DAYS)


@pytest.mark.asyncio
async def test_concurrent_cancels_succeed_once(store: SqlStore, demo_data: Data) -> None:
    """Several orders, three racing cancels each: exactly one wins per order."""
    order_ids = [o["order_id"] for o in demo_data["orders"] if o["status"] == "processing"][:4]
    results = await asyncio.gather(
        *(store.cancel_order(oid, REFUND_DAYS) for oid in order_ids for _ in range(3)), return_exceptions=True
    )
    for n, oid in enumerate(order_ids):
        mine = results[3 * n : 3 * n + 3]
        assert sorted(type(r).__name__ for r in mine) == ["Order", "OrderStateChanged", "OrderStateChanged"], mine
        order = await store.get_order(oid)
        assert order is not None and order.status == "cancelled" and len(order.refunds) == 1


@pytest.mark.asyncio
async def test_update_shipping_address_check_and_set(store: SqlStore, demo_data: Data) -> None:
    o = _first(demo_data, "processing")
    new = Address(street="Calle de Prueba 7, 2º A", postal_code="28013", city="Madrid", province="Madrid")
    updated = await store.update_shipping_address(o["order_id"], new, ALLOWED)
    assert updated.shipping_address == new and updated.status == "processing"
    assert (await store.get_order(o["order_id"])) == updated

    await store.cancel_order(o["order_id"], REFUND_DAYS)
    other = Address(street="Otra calle 1", postal_code="08001", city="Barcelona", province="Barcelona")
    with pytest.raises(OrderStateChanged):
        await store.update_shipping_address(o["order_id"], other, ALLOWED)
    after = await store.get_order(o["order_id"])
    assert after is not None and after.shipping_address == new


@pytest.mark.asyncio
async def test_update_shipping_address_refused_when_shipped(store: SqlStore, demo_data: Data) -> None:
    o = _first(demo_data, "shipped")
    with pytest.raises(OrderStateChanged):
        await store.update_shipping_address(o["order_id"], Address("Calle Nueva 1", "41001", "Sevilla"), ALLOWED)
    order = await store.get_order(o["order_id"])
    assert order is not None and order.shipping_address.street == o["shipping_address"]["street"]


def _delivered_returnable(demo_data: Data) -> Data:
    return next(
        o for o in demo_data["orders"]
        if o["status"] == "delivered" and not o.get("returns") and sum(not i["final_sale"] for i in o["items"]) >= 2
    )


@pytest.mark.asyncio
async def test_create_return(store: SqlStore, demo_data: Data) -> None:
    o = _delivered_returnable(demo_data)
    order = await store.get_order(o["order_id"])
    assert order is not None
    item_ids = [order.items[0].id, order.items[1].id]
    ret = await store.create_return(o["order_id"], item_ids, "La talla no me queda bien")
    assert re.fullmatch(r"DEV-\d{6}", ret.return_number)
    assert (ret.order_id, ret.status, ret.reason, ret.item_ids) == (
        o["order_id"], "requested", "La talla no me queda bien", tuple(sorted(item_ids)),
    )
    second = await store.create_return(o["order_id"], [order.items[0].id], "Ya no lo necesito")
    assert second.return_number != ret.return_number
    stored = await store.get_order(o["order_id"])
    assert stored is not None and stored.returns == (ret, second)


@pytest.mark.asyncio
async def test_create_return_rejects_foreign_items(store: SqlStore, demo_data: Data) -> None:
    o = _delivered_returnable(demo_data)
    other = next(x for x in demo_data["orders"] if x["order_id"] != o["order_id"])
    order = await store.get_order(o["order_id"])
    foreign = await store.get_order(other["order_id"])
    assert order is not None and foreign is not None
    for ids in ([foreign.items[0].id], [order.items[0].id, foreign.items[0].id], [], [10**9]):
        with pytest.raises(UnknownItems):
            await store.create_return(o["order_id"], ids, "x")
    with pytest.raises(UnknownItems):
        await store.create_return("000000", [order.items[0].id], "x")
    stored = await store.get_order(o["order_id"])
    assert stored is not None and stored.returns == ()


@pytest.fixture
def scripted_numbers(monkeypatch: pytest.MonkeyPatch, demo_data: Data) -> Iterator[None]:
    """The first drawn return number is already taken by the demo data."""
    taken = next(r["return_number"] for o in demo_data["orders"] for r in o.get("returns", []))
    numbers = iter([taken, "DEV-000001"])
    monkeypatch.setattr(sql_module, "new_return_number", lambda: next(numbers))
    yield


@pytest.mark.asyncio
async def test_create_return_retries_on_number_collision(
    store: SqlStore, demo_data: Data, scripted_numbers: None
) -> None:
    o = _delivered_returnable(demo_data)
    order = await store.get_order(o["order_id"])
    assert order is not None
    ret = await store.create_return(o["order_id"], [order.items[0].id], "Ha llegado defectuoso")
    assert ret.return_number == "DEV-000001"
