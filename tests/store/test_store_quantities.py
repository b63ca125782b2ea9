"""Returns of part of an order line (issue 9's walkthrough: «la camiseta» of a
line of three sent all three back and refunded 44,85 €). ``return_items``
carries the units of each line; on SQLite and PostgreSQL (``store``), and a
row written before the column (NULL) still means the whole line."""
from __future__ import annotations

from typing import Any, Dict, Tuple

import pytest
from sqlalchemy import text

from core.store.errors import NotEnoughUnits
from core.store.sql import SqlStore
from core.store.types import Order, OrderItem

Data = Dict[str, Any]


async def _multi_unit_line(store: SqlStore, demo_data: Data) -> Tuple[Order, OrderItem]:
    """A delivered order without returns with a returnable line of 3 units or more."""
    for o in demo_data["orders"]:
        if o["status"] != "delivered" or o.get("returns"):
            continue
        if any(i["quantity"] >= 3 and not i["final_sale"] for i in o["items"]):
            order = await store.get_order(o["order_id"])
            assert order is not None
            return order, next(i for i in order.items if i.quantity >= 3 and not i.final_sale)
    raise AssertionError("no demo order with a line of 3 units")


@pytest.mark.asyncio
async def test_a_return_takes_some_units_of_a_line(store: SqlStore, demo_data: Data) -> None:
    order, line = await _multi_unit_line(store, demo_data)
    one = await store.create_return(order.order_id, [line.id], "me queda grande", quantities={line.id: 1})
    assert (one.item_ids, one.quantities, one.units_of(line)) == ((line.id,), (1,), 1)
    rest = await store.create_return(order.order_id, [line.id], "tampoco", quantities={line.id: line.quantity - 1})
    assert rest.units_of(line) == line.quantity - 1
    stored = await store.get_order(order.order_id)
    assert stored is not None and stored.returns == (one, rest)
    assert [r.units_of(line) for r in stored.returns] == [1, line.quantity - 1]


@pytest.mark.asyncio
async def test_a_return_without_quantities_takes_whole_lines(store: SqlStore, demo_data: Data) -> None:
    order, line = await _multi_unit_line(store, demo_data)
    ret = await store.create_return(order.order_id, [line.id], "x")
    assert ret.quantities == (line.quantity,)


@pytest.mark.asyncio
async def test_quantities_outside_the_line_are_refused(store: SqlStore, demo_data: Data) -> None:
    order, line = await _multi_unit_line(store, demo_data)
    for units in (0, -1, line.quantity + 1):
        with pytest.raises(NotEnoughUnits):
            await store.create_return(order.order_id, [line.id], "x", quantities={line.id: units})
    stored = await store.get_order(order.order_id)
    assert stored is not None and stored.returns == ()


@pytest.mark.asyncio
async def test_some_units_of_a_return_become_an_exchange(store: SqlStore, demo_data: Data) -> None:
    order, line = await _multi_unit_line(store, demo_data)
    ret = await store.create_return(order.order_id, [line.id], "talla", quantities={line.id: 2})
    exchange = await store.convert_to_exchange(order.order_id, ret.return_number, [line.id], "talla M",
                                               quantities={line.id: 1})
    assert exchange.return_number != ret.return_number
    assert (exchange.kind, exchange.quantities) == ("exchange", (1,))
    stored = await store.get_order(order.order_id)
    assert stored is not None
    kept = next(r for r in stored.returns if r.return_number == ret.return_number)
    assert (kept.kind, kept.quantities) == ("return", (1,))
    with pytest.raises(NotEnoughUnits):
        await store.convert_to_exchange(order.order_id, ret.return_number, [line.id], "talla M",
                                        quantities={line.id: 2})
    # all it holds: the return itself becomes the exchange, number kept
    whole = await store.convert_to_exchange(order.order_id, ret.return_number, [line.id], "talla S")
    assert (whole.return_number, whole.kind, whole.quantities) == (ret.return_number, "exchange", (1,))


@pytest.mark.asyncio
async def test_a_row_from_before_quantities_means_the_whole_line(store: SqlStore, demo_data: Data) -> None:
    """An old return_items row has NULL units: the line's quantity."""
    order, line = await _multi_unit_line(store, demo_data)
    ret = await store.create_return(order.order_id, [line.id], "x", quantities={line.id: 1})
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE return_items SET quantity = NULL WHERE order_item_id = :i"), {"i": line.id})
    stored = await store.get_order(order.order_id)
    assert stored is not None
    old = next(r for r in stored.returns if r.return_number == ret.return_number)
    assert old.quantities == (line.quantity,) and old.units_of(line) == line.quantity
