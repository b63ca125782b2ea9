"""Exchanges in the store: a return of kind 'exchange' with the wanted size or
colour, created directly or converted from a still-requested return, on
SQLite and PostgreSQL (``store`` runs each test on both), and on a database
created before exchanges existed."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict

import pytest
from sqlalchemy import inspect, text

from core.store.errors import ReturnStateChanged, UnknownItems
from core.store.seed import seed_store
from core.store.sql import SqlStore

Data = Dict[str, Any]


def _returnable(demo_data: Data) -> Data:
    return next(
        o for o in demo_data["orders"]
        if o["status"] == "delivered" and not o.get("returns") and sum(not i["final_sale"] for i in o["items"]) >= 2
    )


@pytest.mark.asyncio
async def test_an_exchange_is_a_return_of_its_own_kind_without_refund(store: SqlStore, demo_data: Data) -> None:
    o = _returnable(demo_data)
    order = await store.get_order(o["order_id"])
    assert order is not None
    created = await store.create_return(o["order_id"], [order.items[0].id], "cambio de talla", wanted_variant="talla 41")
    assert (created.kind, created.wanted_variant, created.is_exchange) == ("exchange", "talla 41", True)
    plain = await store.create_return(o["order_id"], [order.items[1].id], "ya no lo quiero")
    assert (plain.kind, plain.wanted_variant, plain.is_exchange) == ("return", None, False)
    stored = await store.get_order(o["order_id"])
    assert stored is not None and stored.returns == (created, plain)
    assert stored.refunds == ()


@pytest.mark.asyncio
async def test_a_whole_requested_return_becomes_an_exchange_and_keeps_its_number(
    store: SqlStore, demo_data: Data
) -> None:
    o = _returnable(demo_data)
    order = await store.get_order(o["order_id"])
    assert order is not None
    ret = await store.create_return(o["order_id"], [order.items[0].id], "la talla no es la correcta")
    exchange = await store.convert_to_exchange(o["order_id"], ret.return_number, [order.items[0].id], "talla 41")
    assert exchange.return_number == ret.return_number
    assert (exchange.kind, exchange.wanted_variant, exchange.item_ids) == ("exchange", "talla 41", ret.item_ids)
    stored = await store.get_order(o["order_id"])
    assert stored is not None and stored.returns == (exchange,)
    # Once an exchange, it is not converted again.
    with pytest.raises(ReturnStateChanged):
        await store.convert_to_exchange(o["order_id"], ret.return_number, [order.items[0].id], "talla 42")


@pytest.mark.asyncio
async def test_part_of_a_return_moves_to_an_exchange_of_its_own(store: SqlStore, demo_data: Data) -> None:
    o = _returnable(demo_data)
    order = await store.get_order(o["order_id"])
    assert order is not None
    first, second = order.items[0].id, order.items[1].id
    ret = await store.create_return(o["order_id"], [first, second], "no me quedan bien")
    exchange = await store.convert_to_exchange(o["order_id"], ret.return_number, [second], "negro")
    assert exchange.return_number != ret.return_number and exchange.item_ids == (second,)
    stored = await store.get_order(o["order_id"])
    assert stored is not None
    by_number = {r.return_number: r for r in stored.returns}
    assert by_number[ret.return_number].item_ids == (first,) and not by_number[ret.return_number].is_exchange
    assert by_number[exchange.return_number].is_exchange


@pytest.mark.asyncio
async def test_only_a_requested_return_of_these_items_can_be_converted(store: SqlStore, demo_data: Data) -> None:
    with_return = next(o for o in demo_data["orders"] if any(r["status"] == "received" for r in o.get("returns", [])))
    received = next(r for r in with_return["returns"] if r["status"] == "received")
    order = await store.get_order(with_return["order_id"])
    assert order is not None
    ids = list(next(r for r in order.returns if r.return_number == received["return_number"]).item_ids)
    with pytest.raises(ReturnStateChanged):
        await store.convert_to_exchange(with_return["order_id"], received["return_number"], ids, "talla M")
    with pytest.raises(ReturnStateChanged):
        await store.convert_to_exchange(with_return["order_id"], "DEV-999999", ids, "talla M")
    o = _returnable(demo_data)
    fresh = await store.get_order(o["order_id"])
    assert fresh is not None
    ret = await store.create_return(o["order_id"], [fresh.items[0].id], "x")
    with pytest.raises(UnknownItems):
        await store.convert_to_exchange(o["order_id"], ret.return_number, [fresh.items[1].id], "talla M")
    after = await store.get_order(o["order_id"])
    assert after is not None and not any(r.is_exchange for r in after.returns)


@pytest.mark.asyncio
async def test_a_database_created_before_exchanges_gets_the_table_and_keeps_its_returns(
    empty_database_url: str, demo_data: Data
) -> None:
    """A seeded store as a main before exchanges (and before Alembic) left it:
    no return_exchanges, no alembic_version. The seed's migration adds the
    table; the returns stay returns, and exchanges can be made."""
    old = SqlStore(empty_database_url)
    try:
        seed_store(old)
        old.run_in_transaction(lambda s: [s.execute(text(f"DROP TABLE {t}"))
                                          for t in ("return_exchanges", "alembic_version")])
        seed_store(old, now=dt.datetime.now(dt.timezone.utc))  # migrates first
        tables = old.run_in_transaction(lambda s: inspect(s.connection()).get_table_names())
        assert "return_exchanges" in tables
        o = next(x for x in demo_data["orders"] if x.get("returns"))
        order = await old.get_order(o["order_id"])
        assert order is not None and order.returns and all(r.kind == "return" for r in order.returns)
        fresh = _returnable(demo_data)
        item = (await old.get_order(fresh["order_id"])).items[0]
        exchange = await old.create_return(fresh["order_id"], [item.id], "talla pequeña", wanted_variant="talla M")
        assert exchange.kind == "exchange" and exchange.wanted_variant == "talla M"
    finally:
        old.dispose()


@pytest.mark.asyncio
async def test_concurrent_conversions_of_one_return_succeed_once(store: SqlStore, demo_data: Data) -> None:
    """Two conversations (or a double click) convert the same return: one
    exchange, the other call is told the return has moved on."""
    import asyncio

    o = _returnable(demo_data)
    order = await store.get_order(o["order_id"])
    assert order is not None
    ids = [order.items[0].id]
    ret = await store.create_return(o["order_id"], ids, "talla")
    results = await asyncio.gather(
        *(store.convert_to_exchange(o["order_id"], ret.return_number, ids, f"talla {40 + n}") for n in range(3)),
        return_exceptions=True,
    )
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["Return", "ReturnStateChanged", "ReturnStateChanged"], results
    stored = await store.get_order(o["order_id"])
    assert stored is not None and len(stored.returns) == 1 and stored.returns[0].is_exchange


@pytest.mark.asyncio
async def test_the_case_card_tells_an_exchange_from_a_return(store: SqlStore, demo_data: Data) -> None:
    from core.policy import load_policy
    from handoff.casecard import order_summary

    o = _returnable(demo_data)
    order = await store.get_order(o["order_id"])
    assert order is not None
    await store.create_return(o["order_id"], [order.items[0].id], "cambio de talla", wanted_variant="talla 41")
    await store.create_return(o["order_id"], [order.items[1].id], "ya no lo quiero")
    stored = await store.get_order(o["order_id"])
    assert stored is not None
    summary = order_summary(stored, load_policy())
    assert [(r["kind"], r["wanted_variant"], r["status"]) for r in summary["returns"]] == [
        ("exchange", "talla 41", "requested"), ("return", None, "requested")]
