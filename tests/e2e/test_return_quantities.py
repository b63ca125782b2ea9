"""Issue 9's walkthrough on the real stack (Rasa and the action server over
the seeded store): «quiero devolver la camiseta del pedido 564595, me queda
grande» returned and refunded all 3 units of the line (44,85 €). Now the bot
asks how many; one unit is returned for one unit's price; a second return
takes the other two; a third is told nothing is left of it."""
from __future__ import annotations

import sqlite3
from typing import Any, Dict, List, Tuple

import pytest

from core.formatting import money_es
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow

ORDER = "564595"


def stored_units(url: str) -> List[Tuple[str, int]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return db.execute(
            "SELECT r.return_number, ri.quantity FROM returns r JOIN return_items ri ON ri.return_id = r.id"
            " JOIN order_items i ON i.id = ri.order_item_id WHERE r.order_id = ? AND i.name LIKE 'Camiseta%'"
            " ORDER BY r.id", (ORDER,),
        ).fetchall()


def test_one_of_three_camisetas_then_the_other_two_then_none(
    stack: Any, demo_data: Dict[str, Any], e2e_database_url: str
) -> None:
    order = next(o for o in demo_data["orders"] if o["order_id"] == ORDER)
    line = next(i for i in order["items"] if i["name"].startswith("Camiseta"))
    assert line["quantity"] == 3
    unit = money_es(line["unit_price"])
    assert stored_units(e2e_database_url) == []

    first = Shopper(stack)
    first.say(f"quiero devolver la camiseta del pedido {ORDER}, me queda grande")
    asked = first.texts(order["email"])
    assert "¿Cuántas unidades quieres devolver? Tienes 3" in asked, asked
    summary = first.texts("1")
    assert f"1 de 3 × {line['name']}" in summary and unit in summary and "¿La creo?" in summary, summary
    created = first.texts("sí")
    assert "Devolución DEV-" in created and f"1 de 3 × {line['name']}" in created, created
    assert unit in created and money_es(line["unit_price"] * 3) not in created, created
    assert [q for _, q in stored_units(e2e_database_url)] == [1]

    second = Shopper(stack)
    second.say(f"quiero devolver la camiseta del pedido {ORDER}, me queda grande")
    asked = second.texts(order["email"])
    assert "¿Cuántas unidades quieres devolver? Tienes 2" in asked, asked
    summary = second.texts('/inform{"return_quantity":"todas"}')
    assert f"2 de 3 × {line['name']}" in summary and money_es(line["unit_price"] * 2) in summary, summary
    created = second.texts("sí")
    assert "Devolución DEV-" in created, created
    assert [q for _, q in stored_units(e2e_database_url)] == [1, 2]

    third = Shopper(stack)
    third.say(f"quiero devolver la camiseta del pedido {ORDER}")
    told = third.texts(order["email"])
    assert "no queda ninguna unidad" in told and "1 de 3 × " in told and "2 de 3 × " in told, told
    assert "¿Cuántas unidades" not in told
    assert [q for _, q in stored_units(e2e_database_url)] == [1, 2]
