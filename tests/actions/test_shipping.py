"""Shipping questions that name the destination (actions/shipping.py, via
action_answer_questions): a walkthrough asked "¿cuánto cuesta el envío a
Sevilla?" and got the whole price table, Sevilla never named."""
from __future__ import annotations

from typing import List, Optional

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerQuestions
from actions.shipping import destination_in
from core.policy import load_policy
from tests.actions.conftest import make_tracker, responses


@pytest.mark.parametrize("text, name, zone", [
    ("¿cuánto cuesta el envío a Sevilla?", "Sevilla", "mainland"),
    ("cuanto tardan en llegar a barcelona los pedidos", "Barcelona", "mainland"),
    ("envio a sevila", "Sevilla", "mainland"),                 # a small typo
    ("cuanto cuesta enviar a Getafe, Madrid", "Getafe", "mainland"),
    ("tarda mucho en llegar a la coruña?", "La Coruña", "mainland"),
    ("mandan a ibiza?", "Ibiza", "islands"),
    ("cuánto cuesta enviar a las palmas", "Las Palmas", "islands"),
    ("¿y para Tenerife?", "Tenerife", "islands"),
    ("envian a argentina?", "Argentina", "international"),
    ("¿cuánto cuesta el envío a Baleares y Canarias?", "Baleares y Canarias", "islands"),  # not Cantabria
    ("envío a las islas canarias", "Canarias", "islands"),
    ("a portugal y francia", "Portugal y Francia", "international"),
    ("hacen envios a mexico", "México", "international"),
    ("hacen envios a japon?", "Japón", "unserved"),              # walkthrough: got the whole table
    ("¿envían a Estados Unidos?", "Estados Unidos", "unserved"),
    ("cuanto cuesta mandar a EEUU", "Estados Unidos", "unserved"),
    ("envían a Holanda?", "Países Bajos", "unserved"),
    ("che y cuanto demora el envio a cordoba argentina?", "Argentina", "international"),  # not Spain's Córdoba
    ("¿llega a Valencia, Venezuela?", "Venezuela", "unserved"),
])
def test_the_destination_named(text: str, name: str, zone: str) -> None:
    found = destination_in(text)
    assert found is not None and (found.name, found.zone) == (name, zone), found


@pytest.mark.parametrize("text", [
    "¿cuánto cuesta el envío?", "envio a mi casa", "cuanto tarda en llegar", "envío a la oficina",
    "envío gratis a partir de cuánto", "¿envían a Narnia?",
    "envio a sevilla y a tenerife",  # two zones: the general answer has both
])
def test_no_destination(text: str) -> None:
    assert destination_in(text) is None


async def _answer(domain, text: str, key: str, questions: Optional[List[str]] = None) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="faq", text=text)
    tracker.latest_message["response_selector"] = {"faq": {"response": {"intent_response_key": key}}}
    if questions:
        tracker.latest_message["questions"] = questions
    await ActionAnswerQuestions().run(dispatcher, tracker, domain)
    return dispatcher


@pytest.mark.asyncio
@pytest.mark.parametrize("text, key, response, says", [
    ("¿cuánto cuesta el envío a Sevilla?", "faq/shipping_cost", "utter_shipping_to_mainland", "A Sevilla"),
    ("¿cuánto tarda a Tenerife?", "faq/shipping_time", "utter_shipping_to_islands", "IGIC"),
    ("¿y a Mallorca?", "faq/shipping_cost", "utter_shipping_to_islands", "A Mallorca"),
    ("cuanto cuesta el envio a Argentina?", "faq/shipping_cost", "utter_shipping_to_country", "aduana"),
    ("¿envían a Portugal?", "faq/international_shipping", "utter_shipping_to_country", "Portugal"),
    ("hacen envios a japon?", "faq/international_shipping", "utter_shipping_not_to_country", "A Japón no enviamos"),
])
async def test_a_named_destination_gets_its_own_price_and_time(
    domain, renderer, text: str, key: str, response: str, says: str
) -> None:
    dispatcher = await _answer(domain, text, key)
    assert responses(dispatcher) == [response]
    [rendered] = await renderer.texts(dispatcher, "usted")
    assert says in rendered and "{" not in rendered, rendered
    assert "días laborables" in rendered and load_policy().currency in rendered, rendered
    if "Portugal" in text or "japon" in text:
        assert "aduana" not in rendered  # inside the EU: no import duties; not shipped at all
    if "Mallorca" in text:
        assert "IGIC" not in rendered  # Baleares pay no IGIC


@pytest.mark.asyncio
async def test_without_a_destination_the_general_answer(domain) -> None:
    assert responses(await _answer(domain, "¿cuánto cuesta el envío?", "faq/shipping_cost")) == ["utter_faq/shipping_cost"]
    both = await _answer(domain, "¿cuánto tarda y cuánto cuesta el envío a Sevilla?", "faq/shipping_time",
                         ["faq/shipping_time", "faq/shipping_cost"])
    assert responses(both) == ["utter_shipping_to_mainland"]  # one answer for that place says both
    mixed = await _answer(domain, "¿envían a Sevilla? ¿y aceptan Bizum?", "faq/shipping_cost",
                          ["faq/shipping_cost", "faq/payment_methods"])
    assert responses(mixed) == ["utter_shipping_to_mainland", "utter_payment_method_accepted"]  # «¿y aceptan Bizum?»: sí
