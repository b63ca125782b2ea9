"""The committed demo JSON: reproducible, consistent and covering every case."""
from __future__ import annotations

import re
from collections import Counter
from typing import Any, Dict

from core.store.demo import CASE_CHECKS, OUTPUT, case_counts, generate, render
from core.store.types import ORDER_STATUSES

Data = Dict[str, Any]

E164_SPACED = re.compile(r"^\+(34|52|54|56|57|51)( \d{1,4}){2,4}$")
TRACKING = {
    "SEUR": re.compile(r"^\d{14}$"),
    "MRW": re.compile(r"^\d{12}$"),
    "GLS": re.compile(r"^\d{11}$"),
    "DHL": re.compile(r"^\d{10}$"),
    "Correos": re.compile(r"^(PQ[A-Z0-9]{4}\d{16}[A-Z]|U[A-Z]\d{9}ES)$"),
}


def test_json_is_what_the_generator_writes() -> None:
    """Edit demo.py and run ``python -m core.store.demo``, never the JSON."""
    with open(OUTPUT, encoding="utf-8") as fh:
        assert fh.read() == render(generate())


def test_sizes_and_unique_keys(demo_data: Data) -> None:
    customers, orders = demo_data["customers"], demo_data["orders"]
    assert len(customers) >= 60 and len(orders) >= 220
    emails = [c["email"] for c in customers]
    assert len(set(emails)) == len(emails) and all(e == e.lower() for e in emails)
    assert len({c["phone"] for c in customers}) == len(customers)
    ids = [o["order_id"] for o in orders]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[1-9]\d{5}", i) for i in ids)
    per_customer = Counter(o["email"] for o in orders)
    assert set(per_customer) <= set(emails)
    assert sum(1 for n in per_customer.values() if n >= 3) >= 5


def test_customers_are_plausible(demo_data: Data) -> None:
    countries = Counter(c["country"] for c in demo_data["customers"])
    assert set(countries) == {"España", "México", "Argentina", "Colombia", "Chile", "Perú"}
    for c in demo_data["customers"]:
        assert E164_SPACED.match(c["phone"]), c["phone"]
        assert len(c["name"].split()) >= 2 and c["city"]


def test_every_status_and_case_is_covered(demo_data: Data) -> None:
    statuses = Counter(o["status"] for o in demo_data["orders"])
    assert set(statuses) == set(ORDER_STATUSES)
    counts = case_counts(demo_data)
    assert set(counts) == set(CASE_CHECKS)
    assert all(n >= 6 for n in counts.values()), counts


def test_orders_are_consistent(demo_data: Data) -> None:
    final = total_items = 0
    for o in demo_data["orders"]:
        items = o["items"]
        assert items and len({i["sku"] for i in items}) == len(items)
        assert o["total"] == sum(i["quantity"] * i["unit_price"] for i in items)
        final += sum(1 for i in items if i["final_sale"])
        total_items += len(items)
        shipped = o["status"] in ("shipped", "out_for_delivery", "delivered", "returned")
        assert ("carrier" in o) == shipped, o["order_id"]
        if shipped:
            assert TRACKING[o["carrier"]].match(o["tracking_number"]), o["tracking_number"]
            assert o["placed_days_ago"] >= o["shipped_days_ago"]
        if o["status"] == "out_for_delivery":
            # out for delivery is today's delivery: "en reparto hoy … prevista mañana" contradicts itself
            assert o["expected_delivery_in_days"] == 0, o["order_id"]
        assert ("delivered_days_ago" in o) == (o["status"] in ("delivered", "returned"))
        if "delivered_days_ago" in o:
            assert o["shipped_days_ago"] >= o["delivered_days_ago"] >= 1
        paid = o["invoice_number"] is not None
        assert paid == (o["status"] != "pending_payment" and not (o["status"] == "cancelled" and not o.get("refunds")))
        if paid:
            assert re.fullmatch(r"FA-\d{4}-\d{6}", o["invoice_number"])
        assert set(o["shipping_address"]) == {"street", "postal_code", "city", "province", "country"}
    assert 0.10 <= final / total_items <= 0.22


def test_returns_and_refunds_are_consistent(demo_data: Data) -> None:
    numbers = []
    for o in demo_data["orders"]:
        by_sku = {i["sku"]: i for i in o["items"]}
        returns = {r["return_number"]: r for r in o.get("returns", [])}
        numbers += list(returns)
        for r in returns.values():
            assert re.fullmatch(r"DEV-\d{6}", r["return_number"])
            assert r["item_skus"] and all(not by_sku[s]["final_sale"] for s in r["item_skus"])
            assert r["created_days_ago"] < o["delivered_days_ago"]
        for f in o.get("refunds", []):
            assert f["amount"] > 0
            assert (f["completed_days_ago"] is not None) == (f["status"] == "completed")
            if f["return_number"]:
                r = returns[f["return_number"]]
                assert f["amount"] == sum(by_sku[s]["quantity"] * by_sku[s]["unit_price"] for s in r["item_skus"])
            else:
                assert o["status"] == "cancelled" and f["amount"] == o["total"]
        if o["status"] == "returned":
            (r,) = returns.values()
            assert sorted(r["item_skus"]) == sorted(by_sku)
    assert len(set(numbers)) == len(numbers)
