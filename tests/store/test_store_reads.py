"""Reads: orders with everything attached, customer lookups. Expectations come
from demo_store.json, never hard-coded."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from typing import Any, Dict, List

import pytest

from core.policy import load_policy
from core.store.sql import SqlStore

Data = Dict[str, Any]


def _customer(demo_data: Data, country: str) -> Data:
    return next(c for c in demo_data["customers"] if c["country"] == country)


@pytest.mark.asyncio
async def test_get_order_matches_json(store: SqlStore, demo_data: Data, seeded_at: dt.datetime) -> None:
    customers = {c["email"]: c for c in demo_data["customers"]}
    for o in demo_data["orders"]:
        order = await store.get_order(o["order_id"])
        assert order is not None, o["order_id"]
        assert (order.status, order.total, order.payment_method, order.invoice_number) == (
            o["status"], o["total"], o["payment_method"], o["invoice_number"],
        )
        assert order.customer.email == o["email"]
        assert order.customer.name == customers[o["email"]]["name"]
        assert asdict(order.shipping_address) == o["shipping_address"]
        assert [(i.sku, i.name, i.quantity, i.unit_price, i.final_sale) for i in order.items] == [
            (i["sku"], i["name"], i["quantity"], i["unit_price"], i["final_sale"]) for i in o["items"]
        ]
        if "carrier" in o:
            assert order.shipment is not None
            assert (order.shipment.carrier, order.shipment.tracking_number) == (o["carrier"], o["tracking_number"])
            delivered = o.get("delivered_days_ago")
            assert order.shipment.delivered_at == (
                None if delivered is None else seeded_at - dt.timedelta(days=delivered)
            )
        else:
            assert order.shipment is None
        skus = {i.id: i.sku for i in order.items}
        assert [(r.return_number, r.status, r.reason, sorted(skus[i] for i in r.item_ids)) for r in order.returns] == [
            (r["return_number"], r["status"], r["reason"], sorted(r["item_skus"])) for r in o.get("returns", [])
        ]
        assert [
            (f.order_id, f.amount, f.status, f.return_number, f.expected_at, f.completed_at) for f in order.refunds
        ] == [
            (
                o["order_id"],
                f["amount"],
                f["status"],
                f["return_number"],
                load_policy().today(seeded_at) + dt.timedelta(days=f["expected_in_days"]),
                None if f["completed_days_ago"] is None else seeded_at - dt.timedelta(days=f["completed_days_ago"]),
            )
            for f in o.get("refunds", [])
        ]


@pytest.mark.asyncio
async def test_results_are_plain_values(store: SqlStore, demo_data: Data) -> None:
    o = next(o for o in demo_data["orders"] if o.get("refunds") and o.get("returns"))
    order = await store.get_order(o["order_id"])
    assert order is not None
    assert type(order).__module__ == "core.store.types"
    assert order.placed_at.tzinfo is not None
    with pytest.raises(AttributeError):
        order.status = "delivered"  # type: ignore[misc]


@pytest.mark.asyncio
async def test_unknown_order_is_none(store: SqlStore, demo_data: Data) -> None:
    known = {o["order_id"] for o in demo_data["orders"]}
    missing = next(str(n) for n in range(100000, 1000000) if str(n) not in known)
    assert await store.get_order(missing) is None
    assert await store.get_order("") is None
    assert await store.get_order("abc") is None


@pytest.mark.asyncio
async def test_customer_by_email_ignores_case_and_spaces(store: SqlStore, demo_data: Data) -> None:
    wanted = demo_data["customers"][5]
    for typed in (wanted["email"], wanted["email"].upper(), f"  {wanted['email'].title()} "):
        customer = await store.get_customer_by_email(typed)
        assert customer is not None and customer.email == wanted["email"]
        assert (customer.name, customer.phone, customer.country) == (wanted["name"], wanted["phone"], wanted["country"])
    assert await store.get_customer_by_email("nadie@example.com") is None


def _spanish_formats(phone: str) -> List[str]:
    digits = re.sub(r"\D", "", phone)  # 34XXXXXXXXX
    national = digits[2:]
    return [
        phone,
        "00" + digits,
        digits,
        "+" + digits,
        national,
        f"{national[:3]} {national[3:5]} {national[5:7]} {national[7:]}",
        f"(+34) {national[:3]}-{national[3:6]}-{national[6:]}",
    ]


@pytest.mark.asyncio
async def test_customer_by_phone_in_several_formats(store: SqlStore, demo_data: Data) -> None:
    spain = _customer(demo_data, "España")
    for typed in _spanish_formats(spain["phone"]):
        customer = await store.get_customer_by_phone(typed)
        assert customer is not None and customer.email == spain["email"], typed

    mexico = _customer(demo_data, "México")
    digits = re.sub(r"\D", "", mexico["phone"])  # 52 + 10 national digits
    for typed in (mexico["phone"], "00" + digits, digits, digits[2:]):
        customer = await store.get_customer_by_phone(typed)
        assert customer is not None and customer.email == mexico["email"], typed


@pytest.mark.asyncio
async def test_customer_by_phone_misses(store: SqlStore, demo_data: Data) -> None:
    known = {re.sub(r"\D", "", c["phone"]) for c in demo_data["customers"]}
    unknown = next(f"34699{n:06d}" for n in range(10**6) if f"34699{n:06d}" not in known)
    assert await store.get_customer_by_phone("+" + unknown) is None
    assert await store.get_customer_by_phone("") is None
    assert await store.get_customer_by_phone("345 678") is None  # too short to be safe


@pytest.mark.asyncio
async def test_orders_for_customer_newest_first(store: SqlStore, demo_data: Data) -> None:
    emails = [o["email"] for o in demo_data["orders"]]
    email = max(set(emails), key=emails.count)
    expected = sorted(
        (o for o in demo_data["orders"] if o["email"] == email),
        key=lambda o: (o["placed_days_ago"], -int(o["order_id"])),
    )
    customer = await store.get_customer_by_email(email)
    assert customer is not None
    orders = await store.orders_for_customer(customer.id)
    assert len(orders) >= 3
    assert [o.order_id for o in orders] == [o["order_id"] for o in expected]
    assert all(o.customer.id == customer.id for o in orders)
    assert await store.orders_for_customer(-1) == []
