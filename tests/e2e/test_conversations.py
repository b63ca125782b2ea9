"""Conversations through the real Rasa server and action server (REST
channel), over the seeded demo store. Slow: marked ``slow``."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict

import pytest

from core.policy import load_policy
from tests.actions.conftest import DemoOrders
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def orders(demo_data: Dict[str, Any]) -> DemoOrders:
    return DemoOrders(demo_data)


def test_greeting_uses_the_store_name_from_the_policy_file(shopper: Shopper) -> None:
    assert load_policy().store_name in shopper.texts("hola buenas")


def test_order_status_asks_for_email_then_shows_tracking(shopper: Shopper, orders: DemoOrders) -> None:
    order = orders.find(status="shipped", overdue=False)
    first = shopper.texts(f"¿dónde está mi pedido {order['order_id']}?")
    assert "email" in first.lower()
    assert order["tracking_number"] not in first
    answer = shopper.texts(order["email"])
    assert order["tracking_number"] in answer
    assert order["carrier"] in answer
    assert order["items"][0]["name"] in answer


def test_three_wrong_emails_never_reveal_the_order_and_offer_a_person(
    shopper: Shopper, orders: DemoOrders, demo_data: Dict[str, Any]
) -> None:
    order = orders.find(status="shipped")
    wrong = [c["email"] for c in demo_data["customers"] if c["email"] != order["email"]][:3]
    shopper.say("quiero saber dónde está mi pedido")
    replies = shopper.say(order["order_id"])
    for email in wrong:  # after a failed try only the (wrong) email is written again
        replies += shopper.say(email)
    text = str(replies)
    assert order["tracking_number"] not in text and order["carrier"] not in text
    last = replies[-1]
    assert any("request_human" in b["payload"] for b in last.get("buttons", []))


def test_a_question_inside_the_form_is_answered_and_the_form_goes_on(shopper: Shopper, orders: DemoOrders) -> None:
    order = orders.find(status="processing")
    shopper.say("quiero cancelar un pedido")
    faq = shopper.texts("¿cuánto cuesta el envío?")
    assert str(load_policy().raw["free_shipping_threshold"]) in faq
    assert "número de pedido" in faq.lower()  # the form asks again
    shopper.say(order["order_id"])
    confirm = shopper.say(order["email"])
    assert any(b["payload"] == "/affirm" for m in confirm for b in m.get("buttons", []))
    done = shopper.texts("sí, cancélalo")
    assert "cancelado" in done


def test_cancelling_writes_to_the_store(shopper: Shopper, orders: DemoOrders, e2e_database_url: str) -> None:
    order = orders.all(status="processing")[1]
    shopper.say(f"quiero anular el pedido {order['order_id']}")
    shopper.say(order["email"])
    shopper.say("/affirm")
    with sqlite3.connect(e2e_database_url.removeprefix("sqlite:///")) as db:
        status = db.execute("SELECT status FROM orders WHERE order_id = ?", (order["order_id"],)).fetchone()[0]
    assert status == "cancelled"


def test_request_human_emits_the_handoff_and_never_pauses(shopper: Shopper) -> None:
    """Who talks is the bridge's decision: Rasa emits the handoff but keeps
    listening, so a resume that never came cannot leave the shopper unanswered."""
    replies = shopper.say("quiero hablar con una persona")
    handoffs = [m["custom"]["handoff"] for m in replies if "custom" in m]
    assert handoffs and handoffs[0]["reason"] == "customer_request"
    assert shopper.tracker()["paused"] is False
    assert "días laborables" in shopper.texts("¿cuánto tarda el envío?")


def test_brand_voice_usted_changes_the_answers(shopper: Shopper) -> None:
    tu = shopper.texts("hola")
    shopper.api("POST", f"/conversations/{shopper.sender}/tracker/events",
                {"event": "slot", "name": "brand_voice", "value": "usted"})
    usted = shopper.texts("buenas tardes")  # a second greeting: «Sí, aquí sigo. ¿En qué le ayudo?»
    assert "ayudarte" in tu and "le ayudo" in usted and "te ayudo" not in usted, usted


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀🙏", "a" * 10_000, "' OR 1=1; DROP TABLE orders; --", "<script>alert(1)</script>"])
def test_bad_input_gets_a_spanish_answer(shopper: Shopper, text: str) -> None:
    replies = shopper.say(text)
    assert replies, "the bot must answer"
    body = " ".join(m.get("text", "") for m in replies)
    assert "Traceback" not in body and "Error" not in body
    assert any(word in body.lower() for word in ("perdona", "pedido", "escrib", "mensaje", "ayud", "entendido"))


def test_the_faq_selector_answers_faq_questions_only(shopper: Shopper) -> None:
    """bot.nlu.LinearIntentClassifier picks a FAQ answer only for the faq
    intent, in the shape of Rasa's ResponseSelector."""
    faq = shopper.api("POST", "/model/parse", {"text": "¿cuánto cuesta el envío?"})
    assert faq["intent"]["name"] == "faq"
    assert faq["intent"]["full_retrieval_intent_name"] == "faq/shipping_cost"  # Rasa read our answer
    selected = faq["response_selector"]["faq"]["response"]
    assert selected["intent_response_key"] == "faq/shipping_cost"
    assert selected["utter_action"] == "utter_faq/shipping_cost"
    assert "cuesta" in shopper.texts("¿cuánto cuesta el envío?")
    order = shopper.api("POST", "/model/parse", {"text": "¿dónde está mi pedido?"})
    assert order["intent"]["name"] == "order_status"
    assert "faq" not in order.get("response_selector", {})


def test_shipping_to_the_islands_quotes_the_policy_file(shopper: Shopper) -> None:
    slots = load_policy().answer_slots()
    cost = shopper.texts("¿y el envío a Canarias cuánto me cuesta?")
    assert "Canarias" in cost and f"{slots['islands_shipping_cost']} {slots['currency']}" in cost
    days = shopper.texts("¿cuántos días tarda en llegar a Melilla?")
    assert f"de {slots['islands_delivery_days_min']} a {slots['islands_delivery_days_max']} días" in days
    # Read as a question about shipping abroad, the answer still gives the islands' terms.
    abroad = shopper.texts("no me acuerdo, ¿envían a Canarias?")
    assert f"{slots['islands_shipping_cost']} {slots['currency']}" in abroad


def test_logs_hold_no_debug_events_and_no_shopper_data(
        shopper: Shopper, orders: DemoOrders, stack_logs: Path) -> None:
    """At the default level (INFO) no process logs Rasa's debug events, which
    carry slot values: emails and order numbers stay out of the logs."""
    order = orders.find(status="shipped", overdue=False)
    shopper.texts(f"¿dónde está mi pedido {order['order_id']}?")
    assert order["tracking_number"] in shopper.texts(order["email"])
    for name in ("actions.log", "rasa.log", "bridge.log"):
        text = (stack_logs / name).read_text(encoding="utf-8", errors="replace")
        assert "[debug" not in text, name
        assert order["email"] not in text, name
