"""The second walkthrough's dead ends, on the real stack (Rasa and the action
server over the seeded store): another customer's order after verifying
one's own, a problem that is not about the order spoken of, "no sé el
número", "¿sigues ahí?", a country the store does not ship to, and an
acknowledgement after the goodbye."""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from tests.actions.conftest import DemoOrders
from tests.conftest import two_orders_of_one_customer
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow

FALLBACK = "no te he entendido"


def buttons(replies: List[Dict[str, Any]]) -> List[Dict[str, str]]:
    return [b for m in replies for b in m.get("buttons") or []]


def handoff(replies: List[Dict[str, Any]]) -> Dict[str, Any]:
    return next(m["custom"]["handoff"] for m in replies if "handoff" in (m.get("custom") or {}))


def test_the_other_orders_email_alone_verifies_it_after_none_of_yours(shopper: Shopper, demo_data) -> None:
    """Walkthrough: «none of your orders has that number» and then the other
    order's email was refused as «no parece un número de pedido»."""
    mine, _ = two_orders_of_one_customer(demo_data)
    theirs = next(o for o in demo_data["orders"] if o["email"] != mine["email"] and o.get("tracking_number"))
    shopper.say(f"¿dónde está mi pedido {mine['order_id']}?")
    shopper.say(mine["email"])
    refused = shopper.texts(f"y el pedido {theirs['order_id']}?")
    assert "no hay ninguno con el número" in refused and "es de otro email, escríbeme ese email" in refused
    status = shopper.texts(theirs["email"])
    assert "no parece un número de pedido" not in status, status
    assert f"Tu pedido {theirs['order_id']}" in status and theirs["tracking_number"] in status, status


def test_a_problem_after_another_orders_status_asks_which_order(shopper: Shopper, demo_data) -> None:
    """Walkthrough: «me llegó roto el altavoz» after the status of an order
    without a speaker went to a person with that order attached."""
    first, second = two_orders_of_one_customer(demo_data)
    shopper.say(f"¿dónde está mi pedido {first['order_id']}?")
    shopper.say(first["email"])
    asked = shopper.say("me llegó roto el producto 😡")
    body = " ".join(m.get("text", "") for m in asked)
    assert "Siento mucho que te haya llegado roto" in body and "¿De qué pedido se trata?" in body, body
    offered = {b["payload"] for b in buttons(asked)}
    chosen = f'/inform{{"order_id":"{second["order_id"]}"}}'
    assert chosen in offered and f'/inform{{"order_id":"{first["order_id"]}"}}' in offered, offered
    assert not any("handoff" in (m.get("custom") or {}) for m in asked)
    passed = shopper.say(chosen)
    case = handoff(passed)
    assert case["details"]["order_id"] == second["order_id"], case
    assert "Cuéntame qué ha pasado" not in " ".join(m.get("text", "") for m in passed)  # already said


def test_no_number_gets_where_to_find_it_and_the_question_stays(shopper: Shopper, demo_data) -> None:
    order = next(o for o in demo_data["orders"] if o.get("tracking_number"))
    shopper.say("¿dónde está mi pedido?")
    helped = shopper.texts("no sé el número")
    assert "email de confirmación" in helped and "lo dejamos aquí" not in helped, helped
    assert "Para proteger tus datos" in shopper.texts(order["order_id"])
    assert order["tracking_number"] in shopper.texts(order["email"])


def test_are_you_still_there_inside_and_outside_a_form(shopper: Shopper) -> None:
    shopper.say("¿dónde está mi pedido?")
    inside = shopper.texts("sigues ahi?")
    assert inside.startswith("Sí, aquí sigo.") and "número de pedido" in inside, inside
    assert "Soy el asistente virtual" not in inside and "no parece un número" not in inside, inside
    shopper.say("déjalo")
    outside = shopper.texts("hola? hay alguien?")
    assert "aquí sigo" in outside and "Soy el asistente virtual" not in outside, outside


def test_a_country_not_served_gets_a_plain_no(shopper: Shopper) -> None:
    answer = shopper.texts("hacen envios a japon?")
    assert answer.startswith("A Japón no enviamos"), answer
    assert "Argentina" in answer  # the countries served


def test_a_thumbs_up_after_the_goodbye_gets_no_new_question(shopper: Shopper) -> None:
    assert "Hasta pronto" in shopper.texts("gracias, nada mas. chau!")
    closing = shopper.texts("👍")
    assert "¿Puedo ayudarte en algo más?" not in closing and FALLBACK not in closing and closing, closing


@pytest.mark.parametrize("text", ["puedo recoger en tienda?", "donde queda su oficina"])
def test_pickup_and_office_questions_get_the_online_only_fact(shopper: Shopper, text: str) -> None:
    """Walkthrough: store pickup got the shipping prices; «queda» was read as stock."""
    answer = shopper.texts(text)
    assert "vende solo online" in answer, answer


def test_ok_and_laughter_are_not_taken_for_answers(shopper: Shopper) -> None:
    first = shopper.texts("ok")
    assert "Ese paso ya ha terminado" not in first and "Soy el asistente virtual" in first, first
    laugh = shopper.texts("jajaja")
    assert "Eso no lo sé" not in laugh and FALLBACK not in laugh, laugh


def test_the_how_to_return_button_of_a_shipped_order_answers(shopper: Shopper, demo_data) -> None:
    """Walkthrough: «Sí, cómo devolverlo» (payload /faq/return_policy) always got the fallback."""
    order = DemoOrders(demo_data).find(status="shipped", overdue=False)  # a late one gets the delay's offer
    shopper.say(f"quiero cancelar el pedido {order['order_id']}")
    refused = shopper.say(order["email"])
    button = next(b for b in buttons(refused) if b["title"] == "Sí, cómo devolverlo")
    answer = shopper.texts(button["payload"])
    assert "días desde la entrega para devolver" in answer and FALLBACK not in answer, answer


def test_a_bare_number_after_a_task_asks_what_to_do_with_it(shopper: Shopper, demo_data) -> None:
    """Walkthrough: a bare number got «no te he entendido» (and was taken silently),
    «y el otro …?» after a task went to a person."""
    first, second = two_orders_of_one_customer(demo_data)
    shopper.say(f"¿dónde está mi pedido {first['order_id']}?")
    shopper.say(first["email"])
    asked = shopper.say(f"y el otro {second['order_id']}?")
    body = " ".join(m.get("text", "") for m in asked)
    assert f"¿Qué necesitas del pedido {second['order_id']}?" in body and FALLBACK not in body, body
    assert not any("handoff" in (m.get("custom") or {}) for m in asked)
    status = next(b for b in buttons(asked) if b["title"] == "Dónde está")
    assert f"Tu pedido {second['order_id']}" in shopper.texts(status["payload"])  # same email: no new check


def test_no_number_outside_a_form_and_ok_after_an_answer(shopper: Shopper) -> None:
    shopper.say("HOLA NECESITO AYUDA CON UN PEDIDO")
    helped = shopper.texts("no se el numero")
    assert "email de confirmación" in helped, helped
    shopper.say("¿cuánto tarda el envío?")
    ok = shopper.texts("ok")
    assert "Ese paso ya ha terminado" not in ok and FALLBACK not in ok, ok


def test_ok_after_the_help_for_a_missing_number_is_no_wrong_number(shopper: Shopper) -> None:
    """New-user check: «ok» after «no sé el número» got «Eso no parece un número de pedido»."""
    shopper.say("me llego roto el altavoz 😡")
    shopper.say("no se el numero")
    again = shopper.texts("ok")
    assert "no parece un número" not in again and "número de pedido" in again, again
