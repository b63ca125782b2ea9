"""Answers a new-user walkthrough found wrong or missing, on the real stack
(Rasa and the action server over the seeded store): cash on delivery,
discounts for students, express shipping, a company invoice."""
from __future__ import annotations

from typing import Any, Dict

import pytest

from core.policy import load_policy
from tests.actions.conftest import DemoOrders
from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow

FALLBACK = "no te he entendido"


@pytest.mark.parametrize("question,start", [
    ("¿se puede pagar contra reembolso?", "No aceptamos pago contra reembolso"),
    ("puedo pagar en efectivo cuando me llegue?", "No aceptamos pago contra reembolso"),
    ("¿tienen descuento para estudiantes?", "No tenemos descuentos para estudiantes"),
    ("cuanto cuesta el envio express", "El envío exprés cuesta"),
])
def test_the_question_asked_gets_its_own_answer(shopper: Shopper, question: str, start: str) -> None:
    answer = shopper.texts(question)
    assert answer.startswith(start), answer
    if "exprés" in start:
        assert f"{load_policy().raw['express_delivery_days']} día laborable" in answer, answer


def test_a_company_invoice_gets_the_link_and_the_way_to_a_new_one(shopper: Shopper, demo_data: Dict[str, Any]) -> None:
    order = DemoOrders(demo_data).find(status="delivered", paid=True)
    asked = shopper.texts("necesito la factura a nombre de mi empresa con CIF B12345678")
    assert FALLBACK not in asked and "pedido" in asked, asked
    shopper.say(order["order_id"])
    replies = shopper.say(order["email"])
    body = " ".join(m.get("text", "") for m in replies)
    assert order["invoice_number"] in body and "a nombre de una empresa" in body, body
    assert any("invoice_fiscal_data" in b["payload"] for m in replies for b in m.get("buttons", []))
