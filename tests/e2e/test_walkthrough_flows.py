"""A new-user walkthrough's defects, on the real stack (Rasa and the action
server over the seeded store): abbreviated street types, an address sent
again, a "No" at the address read-back, details given with the request,
and a new request while a form waits for an answer."""
from __future__ import annotations

import re
import sqlite3
from typing import Any, Dict, List, Tuple

import pytest

from actions.exchanges import current_variant
from core.addresses.postcodes import shipping_zone
from tests.actions.conftest import DemoOrders
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow

APOLOGY = "entiendo que es frustrante"
FALLBACK = "no te he entendido"
FIX_QUESTION = "¿Qué dato corrijo: la calle, el código postal o la localidad?"
STREET_QUESTION = "¿Cuál es la nueva calle, con número, piso y puerta?"
ADDRESS = "Avda. de la Constitución 5, 1ºA, 41004 Sevilla"


@pytest.fixture(scope="module")
def orders(demo_data: Dict[str, Any]) -> DemoOrders:
    return DemoOrders(demo_data)


@pytest.fixture(scope="module")
def mainland(orders: DemoOrders) -> List[Dict[str, Any]]:
    """Not-yet-shipped mainland orders that no e2e test cancels (those take
    the first five processing orders), newest first."""
    first = {o["order_id"] for o in orders.all(status="processing")[:5]}
    found = [o for o in orders.all(status="processing")
             if o["order_id"] not in first and o["shipping_address"]["country"] == "España"
             and shipping_zone("España", o["shipping_address"]["postal_code"]) == "mainland"]
    assert len(found) >= 4
    return found[::-1]


def stored_address(database_url: str, order_id: str) -> Tuple[str, str, str]:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        return db.execute("SELECT ship_street, ship_postal_code, ship_city FROM orders WHERE order_id = ?",
                          (order_id,)).fetchone()


def start(shopper: Shopper, order: Dict[str, Any]) -> None:
    shopper.say(f"quiero cambiar la dirección de mi pedido {order['order_id']}")
    asked = shopper.texts(order["email"])
    assert STREET_QUESTION in asked, asked


def test_no_at_the_read_back_asks_what_to_correct_and_the_address_sent_again_is_read(
    shopper: Shopper, mainland, e2e_database_url: str
) -> None:
    """Walkthrough: «No» at «¿Es correcta?» ended the change; the address sent
    again then got the frustration apology and «no te he entendido», and the
    next request jumped to «¿Y el código postal?» with that text as street."""
    order = mainland[0]
    start(shopper, order)
    read_back = shopper.texts(ADDRESS)
    assert "Calle y número: Avda. de la Constitución 5, 1ºA" in read_back, read_back
    replies = shopper.say("/deny")
    fix = "\n".join(m.get("text", "") for m in replies)
    assert FIX_QUESTION in fix and "no he cambiado nada" not in fix, fix
    assert [b["title"] for b in replies[-1].get("buttons") or []] == ["La calle", "El código postal", "La localidad"]
    again = shopper.texts(ADDRESS)  # the same address again: an answer, not frustration
    assert APOLOGY not in again and FALLBACK not in again, again
    assert "Calle y número: Avda. de la Constitución 5, 1ºA" in again and "¿Es correcta?" in again, again
    assert "Listo" in shopper.texts("sí")
    assert stored_address(e2e_database_url, order["order_id"]) == ("Avda. de la Constitución 5, 1ºA", "41004", "Sevilla")


def test_a_part_chosen_after_no_is_asked_and_the_rest_kept(shopper: Shopper, mainland, e2e_database_url: str) -> None:
    order = mainland[1]
    start(shopper, order)
    shopper.say("Pza. Nueva 2, 41001 Sevilla")
    assert FIX_QUESTION in shopper.texts("No")
    assert "¿Cuál es la calle correcta" in shopper.texts('/inform{"address_part":"street"}')
    read_back = shopper.texts("Ctra. de Carmona 12, 2º izquierda")
    for line in ("Calle y número: Ctra. de Carmona 12, 2º izquierda", "Código postal: 41001", "Localidad: Sevilla"):
        assert line in read_back, read_back
    assert FIX_QUESTION in shopper.texts("no")
    assert "no he cambiado nada" in shopper.texts("déjalo")
    assert stored_address(e2e_database_url, order["order_id"]) != ("Ctra. de Carmona 12, 2º izquierda", "41001", "Sevilla")


def test_a_corrected_address_instead_of_no_replaces_the_draft(shopper: Shopper, mainland) -> None:
    order = mainland[2]
    start(shopper, order)
    shopper.say("Calle Sierpes 20, 2º izquierda, 41004 Sevilla")
    read_back = shopper.texts("no, es Pº de Colón 5, 3ºB, 41001 Sevilla")
    assert "Calle y número: Pº de Colón 5, 3ºB" in read_back and "Código postal: 41001" in read_back, read_back
    assert "no he cambiado nada" in shopper.texts("no quiero cambiarla")


def test_frustration_and_an_address_in_one_answer_get_the_apology_and_the_read_back(
    shopper: Shopper, mainland
) -> None:
    """The apology (reverted) no longer hides the shopper's reply from the form."""
    order = mainland[3]
    start(shopper, order)
    replies = shopper.texts(f"estoy harta de esperar, {ADDRESS}")
    assert APOLOGY in replies and FALLBACK not in replies, replies
    assert "Código postal: 41004" in replies and "¿Es correcta?" in replies, replies


def test_the_request_again_at_the_street_question_is_not_taken_for_the_street(shopper: Shopper, mainland) -> None:
    order = mainland[0]
    start(shopper, order)
    again = shopper.texts(f"cambiar direccion pedido {order['order_id']}")
    assert STREET_QUESTION in again and "código postal" not in again, again


def test_an_address_in_the_request_of_a_verified_order_is_not_asked_again(shopper: Shopper, mainland) -> None:
    order = mainland[1]
    shopper.say(f"¿dónde está mi pedido {order['order_id']}?")
    shopper.say(order["email"])
    read_back = shopper.texts(f"quiero cambiar la dirección del pedido {order['order_id']} a {ADDRESS}")
    assert STREET_QUESTION not in read_back, read_back
    assert "Calle y número: Avda. de la Constitución 5, 1ºA" in read_back and "Localidad: Sevilla" in read_back


def test_a_draft_left_by_a_form_another_request_took_over_is_not_reused(shopper: Shopper, mainland) -> None:
    order = mainland[2]
    start(shopper, order)
    assert "código postal" in shopper.texts("Cl. Mayor 14, bajo")
    status = shopper.texts(f"¿dónde está mi pedido {order['order_id']}?")
    assert "preparación" in status, status
    asked = shopper.texts(f"quiero cambiar la dirección del pedido {order['order_id']}")
    assert STREET_QUESTION in asked and "código postal" not in asked, asked


def sized_delivered(orders: DemoOrders) -> List[Dict[str, Any]]:
    return [o for o in orders.all(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False)
            if len(o["items"]) == 1 and re.fullmatch(r"talla \d+", current_variant(o["items"][0]["name"]) or "")]


def without_returns(database_url: str, candidates: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The first candidate with no return or exchange in the stack's store
    (other tests create some)."""
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        taken = {row[0] for row in db.execute("SELECT order_id FROM returns")}
    return next(o for o in candidates if o["order_id"] not in taken)


def test_an_exchange_asked_while_the_order_number_is_pending_switches_to_the_exchange(
    shopper: Shopper, orders: DemoOrders, e2e_database_url: str
) -> None:
    """Walkthrough: at «¿Me dices el número de pedido?» (order status) the
    exchange request was answered with that order's status."""
    order = without_returns(e2e_database_url, sized_delivered(orders))
    size = int(current_variant(order["items"][0]["name"]).split()[1]) + 1
    kind = order["items"][0]["name"].split()[0].lower()
    assert "número de pedido" in shopper.texts("¿dónde está mi pedido?")
    asked = shopper.texts(f"quiero cambiar las {kind} del pedido {order['order_id']} por una talla {size}, me quedan pequeñas")
    assert "email" in asked, asked
    summary = shopper.texts(order["email"])
    assert "Te resumo el cambio" in summary and f"por la talla {size}" in summary, summary
    assert "¿Por qué talla o color" not in summary and "entregado" not in summary, summary
    shopper.say("no")  # nothing is created: the order stays as it was for other tests


def test_another_task_at_a_confirmation_switches_too(shopper: Shopper, mainland) -> None:
    order = mainland[3]
    start(shopper, order)
    shopper.say(ADDRESS)
    status = shopper.texts(f"¿dónde está mi pedido {order['order_id']}?")
    assert "preparación" in status and "¿Es correcta?" not in status, status
