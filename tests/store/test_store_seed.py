"""Seeding: idempotent, complete, dates resolved against the seeding time."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Dict

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store.models import Base
from core.store.seed import seed_store
from core.store.sql import SqlStore

Data = Dict[str, Any]


def row_counts(store: SqlStore) -> Dict[str, int]:
    def work(s: Session) -> Dict[str, int]:
        return {
            name: s.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in Base.metadata.tables.items()
        }

    return store.run_in_transaction(work)


def test_seed_matches_json_and_is_idempotent(store: SqlStore, demo_data: Data) -> None:
    orders = demo_data["orders"]
    first = row_counts(store)
    assert first["customers"] == len(demo_data["customers"])
    assert first["orders"] == len(orders)
    assert first["order_items"] == sum(len(o["items"]) for o in orders)
    assert first["shipments"] == sum(1 for o in orders if "carrier" in o)
    assert first["returns"] == sum(len(o.get("returns", [])) for o in orders)
    assert first["return_items"] == sum(len(r["item_skus"]) for o in orders for r in o.get("returns", []))
    assert first["refunds"] == sum(len(o.get("refunds", [])) for o in orders)

    again = seed_store(store)
    assert (again.customers_added, again.orders_added) == (0, 0)
    assert row_counts(store) == first


def test_seed_by_url_creates_schema(tmp_path: Any, demo_data: Data) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'store.db'}"
    result = seed_store(url)
    assert result.orders_added == result.orders_total == len(demo_data["orders"])
    assert seed_store(url).orders_added == 0


@pytest.mark.asyncio
async def test_every_status_is_stored(store: SqlStore, demo_data: Data) -> None:
    expected = Counter(o["status"] for o in demo_data["orders"])
    found: Counter = Counter()
    for customer in demo_data["customers"]:
        c = await store.get_customer_by_email(customer["email"])
        assert c is not None
        found.update(o.status for o in await store.orders_for_customer(c.id))
    assert found == expected


@pytest.mark.asyncio
async def test_relative_dates_resolve_against_seeding_time(
    store: SqlStore, demo_data: Data, seeded_at: dt.datetime
) -> None:
    from core.policy import load_policy

    today = load_policy().today(seeded_at)  # the store's date, as the bot counts days
    for o in demo_data["orders"][:40]:
        order = await store.get_order(o["order_id"])
        assert order is not None
        assert order.placed_at == seeded_at - dt.timedelta(days=o["placed_days_ago"])
        assert order.expected_delivery == today + dt.timedelta(days=o["expected_delivery_in_days"])
        if order.shipment is not None:
            assert order.shipment.shipped_at == seeded_at - dt.timedelta(days=o["shipped_days_ago"])


@pytest.mark.asyncio
async def test_delivery_dates_count_from_the_stores_today_not_utcs(tmp_path: Any, demo_data: Data) -> None:
    """At 23:30 UTC on 1 December it is already 2 December in Madrid: an order
    due "in 0 days" is due on the 2nd, the day the bot calls today (it
    read as late for the hour after midnight before)."""
    from core.policy import load_policy

    url = f"sqlite:///{tmp_path / 'store.db'}"
    late_evening = dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.timezone.utc)
    seed_store(url, now=late_evening)
    store = SqlStore(url)
    try:
        due_today = next(o for o in demo_data["orders"] if o["expected_delivery_in_days"] == 0)
        order = await store.get_order(due_today["order_id"])
        assert order is not None
        assert order.expected_delivery == load_policy().today(late_evening) == dt.date(2026, 12, 2)
    finally:
        store.dispose()
