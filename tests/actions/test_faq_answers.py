"""FAQ answers that follow the words asked (action_answer_questions): a
walkthrough asked "se puede pagar a plazos?" and got the list of payment
methods first, the "no" second; "a que hora atienden por telefono?" got the
hours without the phone number."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerQuestions
from actions.policy import load_policy
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
async def test_other_payment_questions_get_the_list(domain) -> None:
    assert responses(await _answer(domain, "¿aceptan bizum?", "faq/payment_methods")) == ["utter_faq/payment_methods"]


@pytest.mark.asyncio
async def test_the_support_hours_answer_says_how_to_reach_the_team(domain, renderer) -> None:
    dispatcher = CollectingDispatcher()
    dispatcher.utter_message(response="utter_faq/opening_hours")
    [answer] = await renderer.texts(dispatcher, "usted")
    policy = load_policy().raw
    assert str(policy["contact_phone"]) in answer and str(policy["contact_whatsapp"]) in answer, answer
