"""Address changes as shoppers write them, on the real stack (Rasa and the
action server over the seeded store): a town alone, postal code and town in
one answer, the whole address in one message, and a postal code of another
province; the store is checked afterwards."""
from __future__ import annotations

import sqlite3
from typing import Any, Dict, List, Tuple

import pytest

from core.addresses.postcodes import shipping_zone
from tests.actions.conftest import DemoOrders
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow

FALLBACK = "no te he entendido"
OUT_OF_SCOPE = "Eso no lo sé"


@pytest.fixture(scope="module")
def mainland_orders(demo_data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Not-yet-shipped orders in mainland Spain, newest first (other e2e
    tests cancel the first ones of the demo data)."""
    found = [o for o in DemoOrders(demo_data).all(status="processing")
             if o["shipping_address"]["country"] == "España"
             and shipping_zone("España", o["shipping_address"]["postal_code"]) == "mainland"]
    assert len(found) >= 8
    return found[::-1]


def stored_address(database_url: str, order_id: str) -> Tuple[str, str, str, str]:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        return db.execute(
            "SELECT ship_street, ship_postal_code, ship_city, ship_province FROM orders WHERE order_id = ?",
            (order_id,),
        ).fetchone()


def start(shopper: Shopper, order: Dict[str, Any]) -> str:
    shopper.say(f"quiero cambiar la direccion de entrega del pedido {order['order_id']}")
    asked = shopper.texts(order["email"])
    assert "nueva calle" in asked, asked
    return asked


def test_a_town_alone_is_taken_as_the_town(shopper: Shopper, mainland_orders, e2e_database_url: str) -> None:
    order = mainland_orders[0]
    start(shopper, order)
    assert "código postal" in shopper.texts("calle sierpes 3, 1º izq")
    asked = shopper.texts("41004")
    assert "ciudad" in asked, asked
    read_back = shopper.texts("Sevilla")
    assert FALLBACK not in read_back and OUT_OF_SCOPE not in read_back, read_back
    for line in ("Calle y número: Calle Sierpes 3, 1º izq", "Código postal: 41004", "Localidad: Sevilla"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("sí")
    assert stored_address(e2e_database_url, order["order_id"]) == ("Calle Sierpes 3, 1º izq", "41004", "Sevilla", "Sevilla")


def test_postal_code_and_town_in_one_answer(shopper: Shopper, mainland_orders, e2e_database_url: str) -> None:
    order = mainland_orders[1]
    start(shopper, order)
    shopper.say("Calle de Alcalá 100, 2º A")
    read_back = shopper.texts("28013 Madrid")  # no question about the town: it was given
    assert "Código postal: 28013" in read_back and "Localidad: Madrid" in read_back, read_back
    assert "Listo" in shopper.texts("/affirm")
    assert stored_address(e2e_database_url, order["order_id"]) == ("Calle de Alcalá 100, 2º A", "28013", "Madrid", "Madrid")


def test_the_whole_address_in_one_message(shopper: Shopper, mainland_orders, e2e_database_url: str) -> None:
    order = mainland_orders[2]
    start(shopper, order)
    read_back = shopper.texts("Calle Mayor 5, 2ºB, 28013 Madrid")
    for line in ("Calle y número: Calle Mayor 5, 2ºB", "Código postal: 28013", "Localidad: Madrid", "País: España"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("si, es correcta")
    assert stored_address(e2e_database_url, order["order_id"]) == ("Calle Mayor 5, 2ºB", "28013", "Madrid", "Madrid")


def test_a_postal_code_of_another_province_is_asked_about(shopper: Shopper, mainland_orders,
                                                          e2e_database_url: str) -> None:
    order = mainland_orders[3]
    start(shopper, order)
    asked = shopper.texts("Gran Vía 12, 3º, 08001 Madrid")
    assert "08001 es de Barcelona" in asked and "Madrid" in asked, asked
    read_back = shopper.texts("28013 Madrid")
    assert "Calle y número: Gran Vía 12, 3º" in read_back and "Código postal: 28013" in read_back, read_back
    assert "Listo" in shopper.texts("sí")
    assert stored_address(e2e_database_url, order["order_id"])[1:] == ("28013", "Madrid", "Madrid")


def test_a_question_while_asking_the_town_is_answered_and_the_town_asked_again(shopper: Shopper,
                                                                                mainland_orders) -> None:
    order = mainland_orders[4]
    start(shopper, order)
    shopper.say("Calle Real 8")
    shopper.say("28901")
    answer = shopper.texts("¿cuánto cuesta el envío?")
    assert "ciudad" in answer, answer  # the form asks again after the answer
    read_back = shopper.texts("getafe")
    assert "Localidad: Getafe" in read_back and "Provincia: Madrid" in read_back, read_back
    assert "¿Qué dato corrijo" in shopper.texts("no")  # a plain no asks what to correct
    assert "no he cambiado nada" in shopper.texts("déjalo")


def test_an_address_in_the_request_is_not_asked_again(shopper: Shopper, mainland_orders,
                                                       e2e_database_url: str) -> None:
    order = mainland_orders[5]
    shopper.say(f"me equivoqué de dirección en el pedido {order['order_id']}, es calle Colón 8, 4º, 46004 Valencia")
    read_back = shopper.texts(order["email"])
    assert "nueva calle" not in read_back, read_back
    for line in ("Calle y número: Calle Colón 8, 4º", "Código postal: 46004", "Localidad: Valencia"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("vale")
    assert stored_address(e2e_database_url, order["order_id"]) == ("Calle Colón 8, 4º", "46004", "Valencia", "Valencia")


def test_a_correction_at_the_read_back(shopper: Shopper, mainland_orders, e2e_database_url: str) -> None:
    order = mainland_orders[6]
    start(shopper, order)
    assert "Código postal: 28013" in shopper.texts("Calle Mayor 5, 28013 Madrid")
    read_back = shopper.texts("no, el código postal es 28014")
    assert "Código postal: 28014" in read_back and "Calle y número: Calle Mayor 5" in read_back, read_back
    assert "Listo" in shopper.texts("sí")
    assert stored_address(e2e_database_url, order["order_id"]) == ("Calle Mayor 5", "28014", "Madrid", "Madrid")


def test_an_address_abroad_with_six_digit_postal_code(shopper: Shopper, demo_data: Dict[str, Any],
                                                     e2e_database_url: str) -> None:
    """Colombia's postal codes have six digits, like an order number: the
    verified order stays, and the code is read as the postal code."""
    order = next(o for o in demo_data["orders"] if o["status"] == "pending_payment"
                 and o["shipping_address"]["country"] == "Colombia")
    start(shopper, order)
    read_back = shopper.texts("Carrera 43A # 1-50, apto 301, 050021 Medellín")
    for line in ("Calle y número: Carrera 43A # 1-50, apto 301", "Código postal: 050021", "Localidad: Medellín",
                 "Provincia: Antioquia", "País: Colombia"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("si")
    assert stored_address(e2e_database_url, order["order_id"]) == (
        "Carrera 43A # 1-50, apto 301", "050021", "Medellín", "Antioquia")


def test_a_move_to_the_canary_islands_is_offered_to_a_person(shopper: Shopper, mainland_orders,
                                                             e2e_database_url: str) -> None:
    order = mainland_orders[7]
    start(shopper, order)
    replies = shopper.say("Calle Triana 10, 35002 Las Palmas de Gran Canaria")
    body = " ".join(m.get("text", "") for m in replies)
    assert "35002 es de Las Palmas" in body and "otro precio" in body, body
    assert any("request_human" in b["payload"] for m in replies for b in m.get("buttons", []))
    assert stored_address(e2e_database_url, order["order_id"])[1] == order["shipping_address"]["postal_code"]


def test_a_request_with_email_and_the_new_address_in_one_message_reads_it_back(
    shopper: Shopper, mainland_orders, e2e_database_url: str
) -> None:
    """Tester's report: a polite request with the number, the email and the new
    address in one message ('Buenas tardes, necesito modificar …') got the fallback."""
    order = mainland_orders[8]
    read_back = shopper.texts(
        f"Buenas tardes, necesito modificar la dirección de mi pedido {order['order_id']}, mi correo es "
        f"{order['email']}. La nueva es Calle de Alcalá 120, 4º izquierda, 28009 Madrid")
    assert FALLBACK not in read_back and OUT_OF_SCOPE not in read_back, read_back
    for line in ("Calle y número: Calle de Alcalá 120, 4º izquierda", "Código postal: 28009", "Localidad: Madrid"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("sí")
    assert stored_address(e2e_database_url, order["order_id"])[:3] == (
        "Calle de Alcalá 120, 4º izquierda", "28009", "Madrid")


def test_a_town_for_the_street_is_said_back_and_the_street_gets_its_capitals(
    shopper: Shopper, mainland_orders, e2e_database_url: str
) -> None:
    """Tester's report: 'a huesca' got '… ¿Me la escribes de nuevo?' and the
    street was stored as 'Calle del coso 45'."""
    order = mainland_orders[7]
    start(shopper, order)
    noted = shopper.texts("a huesca")
    assert "Apunto Huesca" in noted and "de nuevo" not in noted, noted
    asked = shopper.texts("calle del coso 45")
    assert "código postal" in asked, asked
    read_back = shopper.texts("22001")
    for line in ("Calle y número: Calle del Coso 45", "Código postal: 22001", "Localidad: Huesca"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("sí")
    assert stored_address(e2e_database_url, order["order_id"])[:3] == ("Calle del Coso 45", "22001", "Huesca")


def test_a_yes_to_another_postcode_or_a_person_is_not_taken_for_a_postcode(
    shopper: Shopper, mainland_orders, e2e_database_url: str
) -> None:
    """Walkthrough: «sí» to «¿Me das otro código postal y localidad, o te paso
    con una persona?» was read as the postal code. A yes there says how to go
    on (both ways), and the next real answer is read."""
    order = mainland_orders[6]
    start(shopper, order)
    shopper.say("Calle Triana 10, 35002 Las Palmas de Gran Canaria")
    for yes in ("si", "vale"):
        replies = shopper.say(yes)
        body = " ".join(m.get("text", "") for m in replies)
        assert "código postal" in body and "persona" in body, body
        assert "no parece" not in body.lower() and FALLBACK not in body and "35002" not in body, body
        assert any("request_human" in b["payload"] for m in replies for b in m.get("buttons", []))
    read_back = shopper.texts("41004 Sevilla")
    for line in ("Calle y número: Calle Triana 10", "Código postal: 41004", "Localidad: Sevilla"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("sí")
    assert stored_address(e2e_database_url, order["order_id"])[:3] == ("Calle Triana 10", "41004", "Sevilla")


def test_an_address_typed_after_the_change_was_refused_is_read_not_the_fallback(
    shopper: Shopper, demo_data: Dict[str, Any]
) -> None:
    """Walkthrough: the change of a shipped order was refused («ya ha salido del
    almacén»); the shopper typed the city and then the street anyway and got
    «no te he entendido» twice (and then a person for "fallback")."""
    order = DemoOrders(demo_data).all(status="shipped")[-1]
    shopper.say(f"quiero cambiar la dirección de mi pedido {order['order_id']}")
    refused = shopper.texts(order["email"])
    assert "ya no podemos cambiar la dirección" in refused, refused
    for typed in ("Getafe", "calle Madrid 12, 2ºB, 28901 Getafe"):
        replies = shopper.say(typed)
        body = " ".join(m.get("text", "") for m in replies)
        assert FALLBACK not in body and "ya ha salido del almacén" in body, body
        assert not any("handoff" in (m.get("custom") or {}) for m in replies), replies
        assert any("address_change_after_shipping" in b["payload"] for m in replies for b in m.get("buttons", []))
    handed = shopper.say("/request_human{\"handoff_reason\":\"address_change_after_shipping\"}")
    payload = next(m["custom"]["handoff"] for m in handed if "handoff" in (m.get("custom") or {}))
    assert payload["reason"] == "address_change_after_shipping", payload
