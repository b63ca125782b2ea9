"""What a shopper met trying the bot, on the real stack (Rasa + action
server over the seeded demo store): a refund past its date said as a
promise, a verified shopper locked out by a wrong number and a silent lock,
return instructions for a Spanish Correos office on an order shipped abroad,
the item and reason of a return asked again, and the address of the request
asked again."""
from __future__ import annotations

import re
from typing import Any, Dict, List

import pytest

from actions.exchanges import current_variant
from core.policy import load_policy
from tests.actions.conftest import DemoOrders
from tests.conftest import two_orders_of_one_customer
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def orders(demo_data: Dict[str, Any]) -> DemoOrders:
    return DemoOrders(demo_data)


def _text(replies: List[Dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in replies)


def _buttons(replies: List[Dict[str, Any]]) -> List[str]:
    return [b["payload"] for m in replies for b in m.get("buttons", [])]


def _unknown_numbers(demo_data: Dict[str, Any], count: int) -> List[str]:
    known = {o["order_id"] for o in demo_data["orders"]}
    return [str(n) for n in range(100001, 999999) if str(n) not in known][:count]


def test_a_refund_past_its_date_is_late_not_promised(shopper: Shopper, demo_data: Dict[str, Any]) -> None:
    order = next(o for o in demo_data["orders"]
                 if any(r["status"] != "completed" and r["expected_in_days"] < 0 for r in o.get("refunds") or []))
    shopper.say(f"¿cuándo me llega el reembolso del pedido {order['order_id']}?")
    replies = shopper.say(order["email"])
    text = _text(replies)
    assert "con retraso" in text and "llegará como tarde" not in text, text
    assert text.count("Siento") + text.count("Lo siento") == 1, text
    assert '/request_human{"handoff_reason":"refund_late"}' in _buttons(replies)
    handoff = [m["custom"]["handoff"] for m in shopper.say("sí") if "custom" in m]
    assert handoff and handoff[0]["reason"] == "refund_late"


def test_a_verified_shopper_mistyping_another_number_is_never_locked(
    shopper: Shopper, demo_data: Dict[str, Any]
) -> None:
    first, second = two_orders_of_one_customer(demo_data)
    shopper.say(f"dónde está mi pedido {first['order_id']}")
    assert first["order_id"] in shopper.texts(first["email"])
    for wrong in _unknown_numbers(demo_data, 4):  # more than the tries a stranger has
        answer = shopper.texts(f"¿y el pedido {wrong}?")
        assert f"no hay ninguno con el número {wrong}" in answer, answer
        assert "intentos" not in answer.replace("no cuenta como intento fallido", "")
        assert "no puedo comprobar más pedidos" not in answer
    answer = shopper.texts(f"¿y el pedido {second['order_id']}?")
    assert second["order_id"] in answer and "no puedo comprobar" not in answer, answer


def test_the_lock_is_said_plainly_with_the_offer_of_a_person(
    shopper: Shopper, orders: DemoOrders, demo_data: Dict[str, Any]
) -> None:
    order = orders.find(status="delivered")
    wrong = _unknown_numbers(demo_data, 3)
    shopper.say(f"quiero saber dónde está el pedido {wrong[0]}")
    assert "te quedan 2 intentos" in shopper.texts(order["email"])
    assert "te queda 1 intento" in shopper.texts(wrong[1])
    replies = shopper.say(wrong[2])
    text = _text(replies)
    assert "no puedo comprobar más pedidos en esta conversación" in text and "¿Te paso con ella?" in text, text
    assert text.count("No encuentro") == 0  # the lock, said once, not the refusal again
    assert '/request_human{"handoff_reason":"verification_failed"}' in _buttons(replies)
    # a new question is met with the same plain words, not a silent refusal
    again = shopper.texts(f"¿y el pedido {order['order_id']}?")
    assert "no puedo comprobar más pedidos" in again and order["items"][0]["name"] not in again
    # the right email after the lock: the lock again, not "no te he entendido"
    email = shopper.say(order["email"])
    assert "no puedo comprobar más pedidos" in _text(email) and "no te he entendido" not in _text(email), email
    assert '/request_human{"handoff_reason":"verification_failed"}' in _buttons(email)


def test_a_return_abroad_named_in_one_message_is_created_with_the_countrys_drop_off(
    shopper: Shopper, orders: DemoOrders
) -> None:
    """'quiero devolver el reloj del pedido N porque no es lo que esperaba':
    no question about the item or the reason, and no Spanish Correos office."""
    candidates = [
        o for o in orders.all(status="delivered", final_sale="none", max_delivered_days=20, has_returns=False)
        if o["shipping_address"]["country"] not in ("España", "Portugal", "Francia", "Italia", "Alemania")
        and not re.fullmatch(r"talla \d+", current_variant(o["items"][0]["name"]) or "")
        and [i["name"].split()[0] for i in o["items"]].count(o["items"][0]["name"].split()[0]) == 1
    ]
    order = candidates[-1]
    kind = order["items"][0]["name"].split()[0].lower()
    shopper.say(f"quiero devolver {kind} del pedido {order['order_id']} porque no es lo que esperaba")
    summary = shopper.texts(order["email"])
    assert "¿Qué artículos" not in summary and "¿Por qué lo devuelves" not in summary
    assert "Te resumo la devolución" in summary and order["items"][0]["name"] in summary, summary
    assert "Devolución DEV-" not in summary  # nothing created before the yes
    created = shopper.texts("sí, adelante")
    assert "Devolución DEV-" in created, created
    assert order["items"][0]["name"] in created
    assert load_policy().return_dropoff_for(order["shipping_address"]["country"]) in created
    assert "Correos" not in created


@pytest.mark.parametrize("verified_before", [False, True])
def test_the_address_of_the_request_is_read_back_not_asked(
    shopper: Shopper, demo_data: Dict[str, Any], verified_before: bool
) -> None:
    """'quiero cambiar la dirección del pedido N a Calle Mayor 5, 28013 Madrid'
    was followed by '¿Cuál es la nueva calle…?'."""
    order_id = "963515" if verified_before else "982007"  # mainland, pending payment: no other e2e test takes them
    order = next(o for o in demo_data["orders"] if o["order_id"] == order_id)
    assert order["status"] == "pending_payment" and order["shipping_address"]["country"] == "España"
    request = f"quiero cambiar la dirección del pedido {order_id} a Calle Mayor 5, 28013 Madrid"
    if verified_before:
        other = next(o for o in demo_data["orders"] if o["email"] == order["email"] and o["order_id"] != order_id)
        shopper.say(f"dónde está mi pedido {other['order_id']}")
        assert other["order_id"] in shopper.texts(order["email"])
        read_back = shopper.texts(request)
    else:
        shopper.say(request)
        read_back = shopper.texts(order["email"])
    assert "nueva calle" not in read_back, read_back
    for line in ("Calle y número: Calle Mayor 5", "Código postal: 28013", "Localidad: Madrid"):
        assert line in read_back, read_back
    assert "Listo" in shopper.texts("sí")


@pytest.mark.parametrize("request_text, then, expected_street", [
    ("quiero cambiar la dirección del pedido {id} a Mayor 5, 28013 Madrid", None, "Mayor 5"),
    ("quiero cambiar la dirección del pedido {id} a 28013 Madrid", "Calle Mayor 5", "Calle Mayor 5"),
    ("quiero que el pedido {id} me llegue a Calle Mayor 5, 28013 Madrid", None, "Calle Mayor 5"),
])
def test_the_address_of_the_request_as_shoppers_write_it(
    shopper: Shopper, demo_data: Dict[str, Any], request_text: str, then: Any, expected_street: str
) -> None:
    """Without the word 'calle', with only the postal code and the town, or
    asked as 'que me llegue a …': only what the request lacks is asked."""
    order = next(o for o in demo_data["orders"] if o["order_id"] == "982007")
    asked = shopper.say(request_text.format(id=order["order_id"]))
    assert "email" in _text(asked), _text(asked)
    answer = shopper.texts(order["email"])
    if then:
        assert "nueva calle" in answer and "código postal" not in answer.split("nueva calle")[0], answer
        answer = shopper.texts(then)
    assert "¿Y el código postal?" not in answer and "¿En qué ciudad" not in answer, answer
    for line in (f"Calle y número: {expected_street}", "Código postal: 28013", "Localidad: Madrid"):
        assert line in answer, answer
    assert "¿Qué dato corrijo" in shopper.texts("no")  # a plain no asks what to correct
    assert "no he cambiado nada" in shopper.texts("déjalo")


def test_the_address_and_the_email_in_the_request_go_straight_to_the_read_back(
    shopper: Shopper, demo_data: Dict[str, Any]
) -> None:
    order = next(o for o in demo_data["orders"] if o["order_id"] == "982007")
    answer = shopper.texts(f"quiero cambiar la dirección del pedido {order['order_id']} a Calle Mayor 5, "
                           f"28013 Madrid. Mi email es {order['email']}")
    assert "¿En qué ciudad" not in answer, answer
    for line in ("Calle y número: Calle Mayor 5", "Código postal: 28013", "Localidad: Madrid"):
        assert line in answer, answer
    assert "¿Qué dato corrijo" in shopper.texts("no")  # a plain no asks what to correct
    assert "no he cambiado nada" in shopper.texts("déjalo")


def test_a_goodbye_inside_the_order_form_ends_it(shopper: Shopper) -> None:
    """'ok gracias chao' while the number was asked: a goodbye, not the question again."""
    asked = shopper.texts("¿dónde está mi pedido?")
    assert "número de pedido" in asked, asked
    bye = shopper.texts("ok gracias chao")
    assert "Hasta pronto" in bye and "número de pedido" not in bye, bye
    assert not (shopper.tracker().get("active_loop") or {}).get("name")


def test_an_exchange_for_one_size_more_is_summarised_before_it_is_created(
    shopper: Shopper, orders: DemoOrders, e2e_database_url: str
) -> None:
    """'me quedan chicas, ¿las puedo cambiar por una talla más?' created the
    exchange for the inferred size at once."""
    from actions.exchanges import resolve_variant
    from tests.e2e.test_exchanges_and_damage import sized_orders, stored_returns

    order = sized_orders(orders)[2]
    name = order["items"][0]["name"].split()[0].lower()
    shopper.say(f"{name} del pedido {order['order_id']}: me quedan chicas, ¿las puedo cambiar por una talla más?")
    summary = shopper.texts(order["email"])
    if "¿Qué artículo" in summary:
        summary = shopper.texts("1")
    wanted = resolve_variant("una talla más", [order["items"][0]["name"]])
    assert wanted
    assert "Te resumo el cambio" in summary and wanted in summary and "¿Lo hago?" in summary, summary
    assert stored_returns(e2e_database_url, order["order_id"]) == []
    created = shopper.texts("sí")
    assert re.search(r"DEV-\d{6}", created) and "como tarde el" in created, created
    assert [r[2] for r in stored_returns(e2e_database_url, order["order_id"])] == [wanted]


def test_another_size_before_shipping_says_what_can_be_done(shopper: Shopper, demo_data: Dict[str, Any]) -> None:
    """'puedo cambiar la talla del pedido N antes de que lo envíen? <email>' got the fallback."""
    order = next(o for o in demo_data["orders"] if o["order_id"] == "982417")  # processing, never cancelled here
    assert order["status"] == "processing"
    replies = shopper.say(f"puedo cambiar la talla del pedido {order['order_id']} antes de que lo envíen? {order['email']}")
    text = _text(replies)
    assert "no te he entendido" not in text and "todavía no ha salido" in text and "cancelarlo" in text, text
    assert "/order_cancel" in _buttons(replies)


def test_cancelling_an_overdue_order_that_has_shipped_says_the_delay(shopper: Shopper, orders: DemoOrders) -> None:
    order = orders.all(status="shipped", overdue=True)[-1]
    shopper.say(f"quiero cancelar el pedido {order['order_id']}")
    replies = shopper.say(order["email"])
    text = _text(replies)
    assert "ya no se puede cancelar" in text and "retraso" in text and text.count("Lo siento") == 1, text
    assert "/order_not_received" in _buttons(replies)


def test_an_order_out_for_delivery_is_expected_today(shopper: Shopper, orders: DemoOrders) -> None:
    order = orders.all(status="out_for_delivery")[-1]
    shopper.say(f"¿dónde está mi pedido {order['order_id']}?")
    text = shopper.texts(order["email"])
    assert "en reparto hoy" in text and "Entrega prevista: hoy." in text, text
