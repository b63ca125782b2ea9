"""``SqlStore.order_products`` (the reports' products, docs/reports.md
"Products"): every order's lines with whether a return of the order holds
THAT line, in one query, on SQLite and PostgreSQL. Expectations come from
demo_store.json."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest
from sqlalchemy import event

from core.store.sql import SqlStore

Data = Dict[str, Any]


@pytest.mark.asyncio
async def test_each_line_says_whether_a_return_holds_it(store: SqlStore, demo_data: Data) -> None:
    orders = demo_data["orders"]
    statements: List[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        found = await store.order_products([o["order_id"] for o in orders] + ["999999", ""])
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    expected = {}
    for o in orders:
        returned = {sku for r in o.get("returns", []) for sku in r["item_skus"]}
        expected[o["order_id"]] = [(i["name"], i["sku"] in returned) for i in o["items"]]
    assert found == expected
    # the demo data holds an order whose return is for only some of its lines
    assert any(any(r for _, r in lines) and not all(r for _, r in lines) for lines in found.values())
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1   # all orders, one query


@pytest.mark.asyncio
async def test_no_orders_asks_nothing(store: SqlStore) -> None:
    assert await store.order_products([]) == {}
