"""FAQ answers that follow the words asked (action_answer_questions): a
walkthrough asked "se puede pagar a plazos?" and got the list of payment
methods first, the "no" second; "a que hora atienden por telefono?" got the
hours without the phone number."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerQuestions
from core.policy import load_policy
from tests.actions.conftest import make_tracker, responses


async def _answer(domain, text: str, key: str) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="faq", text=text)
    tracker.latest_message["response_selector"] = {"faq": {"response": {"intent_response_key": key}}}
    await ActionAnswerQuestions().run(dispatcher, tracker, domain)
    return dispatcher


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["se puede pagar a plazos?", "¿puedo pagar en cuotas?", "tienen financiación?",
                                  "se puede pagar a meses sin intereses?", "¿aceptan Klarna?"])
async def test_instalments_asked_get_the_no_first(domain, renderer, text: str) -> None:
    dispatcher = await _answer(domain, text, "faq/payment_methods")
    assert responses(dispatcher) == ["utter_payment_instalments"]
    [answer] = await renderer.texts(dispatcher, "tu")
    assert answer.startswith(load_policy().raw["installments_text"]), answer
    assert "Bizum" in answer  # what can be used follows


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["¿qué formas de pago tienen?", "como se paga?", "¿aceptan Apple Pay?",
                                  "se puede pagar con google pay"])
async def test_other_payment_questions_get_the_list(domain, text: str) -> None:
    assert responses(await _answer(domain, text, "faq/payment_methods")) == ["utter_faq/payment_methods"]


@pytest.mark.asyncio
@pytest.mark.parametrize("text, named", [
    ("¿puedo pagar con bizum?", "Bizum"), ("¿aceptan bizum?", "Bizum"), ("se puede pagar con PayPal", "PayPal"),
    ("aceptais visa?", "Visa"), ("¿puedo pagar con American Express?", "American Express"),
    ("se puede pagar con tarjeta de débito?", "tarjeta (Visa, Mastercard, American Express)"),
    ("puedo hacer una transferencia?", "transferencia bancaria"),
])
async def test_a_method_the_store_takes_gets_a_plain_yes(domain, renderer, text: str, named: str) -> None:
    """Walkthrough: «¿puedo pagar con bizum?» got the list of every method, not «sí»."""
    dispatcher = await _answer(domain, text, "faq/payment_methods")
    assert responses(dispatcher) == ["utter_payment_method_accepted"]
    for voice in ("tu", "usted"):
        [answer] = await renderer.texts(dispatcher, voice)
        assert answer.startswith(f"Sí, aceptamos {named}. También aceptamos "), answer
        others = [m for m in load_policy().raw["payment_methods"] if named not in m]
        assert all(m in answer for m in others)  # the rest of what can be used follows


@pytest.mark.asyncio
async def test_the_support_hours_answer_says_how_to_reach_the_team(domain, renderer) -> None:
    dispatcher = CollectingDispatcher()
    dispatcher.utter_message(response="utter_faq/opening_hours")
    [answer] = await renderer.texts(dispatcher, "usted")
    policy = load_policy().raw
    assert str(policy["contact_phone"]) in answer and str(policy["contact_whatsapp"]) in answer, answer


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["¿se puede pagar contra reembolso?", "puedo pagar en efectivo al repartidor?",
                                  "aceptan contrareembolso", "¿pago cuando me llegue?"])
async def test_cash_on_delivery_asked_gets_the_no_first(domain, renderer, text: str) -> None:
    """Walkthrough: «¿se puede pagar contra reembolso?» got the list of methods
    with no word about cash on delivery: the shopper had to infer the «no»."""
    dispatcher = await _answer(domain, text, "faq/payment_methods")
    assert responses(dispatcher) == ["utter_payment_cash_on_delivery"]
    for voice in ("tu", "usted"):
        [answer] = await renderer.texts(dispatcher, voice)
        assert answer.startswith(load_policy().raw["cash_on_delivery_text"]), answer
        assert "Bizum" in answer and "{" not in answer, answer


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["¿tienen descuento para estudiantes?", "hay descuentos para jubilados",
                                  "¿descuento por familia numerosa?", "soy universitaria, tengo algún descuento?"])
async def test_a_group_discount_question_is_answered_not_the_coupon_help(domain, renderer, text: str) -> None:
    """Walkthrough: «¿tienen descuento para estudiantes?» got «Si tu código no
    funciona, comprueba que no ha caducado…», an answer to another question."""
    dispatcher = await _answer(domain, text, "faq/discount_codes")
    assert responses(dispatcher) == ["utter_discount_groups"]
    [answer] = await renderer.texts(dispatcher, "tu")
    assert answer.startswith("No tenemos descuentos para estudiantes") and "código no funciona" not in answer


@pytest.mark.asyncio
async def test_a_coupon_that_fails_still_gets_the_coupon_help(domain) -> None:
    assert responses(await _answer(domain, "mi cupón no funciona", "faq/discount_codes")) == ["utter_faq/discount_codes"]


@pytest.mark.asyncio
@pytest.mark.parametrize("text,key", [("¿cuánto cuesta el envío exprés?", "faq/shipping_cost"),
                                      ("¿el envío urgente cuánto tarda?", "faq/shipping_time"),
                                      ("¿tienen envío express en 24 horas?", "faq/shipping_time")])
async def test_express_shipping_gets_its_price_and_time(domain, renderer, text: str, key: str) -> None:
    """Walkthrough: «¿cuánto cuesta el envío exprés?» got the whole price list
    and no word of how fast express is."""
    dispatcher = await _answer(domain, text, key)
    assert responses(dispatcher) == ["utter_shipping_express"]
    policy = load_policy().raw
    [answer] = await renderer.texts(dispatcher, "tu")
    assert f"{policy['express_shipping_cost']}".replace(".", ",") in answer or \
        f"{policy['express_shipping_cost']}" in answer, answer
    assert "1 día laborable" in answer and "{" not in answer, answer


@pytest.mark.asyncio
async def test_express_price_and_time_asked_together_get_one_answer(domain) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="faq", text="¿cuánto cuesta y cuánto tarda el envío exprés?")
    tracker.latest_message["questions"] = ["faq/shipping_cost", "faq/shipping_time"]
    await ActionAnswerQuestions().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_shipping_express"]
