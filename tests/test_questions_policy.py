"""QuestionsPolicy (bot/policies.py) on trackers built here, with the real domain."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.policies import QUESTIONS_ACTION, QuestionsPolicy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def policy(tmp_path: Path) -> QuestionsPolicy:
    return QuestionsPolicy.create(QuestionsPolicy.get_default_config(), LocalModelStorage(tmp_path),
                                  Resource("questions_policy"), ExecutionContext(None))


def asked(*keys: str) -> List[Event]:
    parse = {"intent": {"name": "faq", "confidence": 1.0}, "entities": [], "text": "x"}
    if keys:
        parse["questions"] = list(keys)
    return [UserUttered("x", parse["intent"], parse_data=parse)]


def predicted(policy: QuestionsPolicy, domain: Domain, events: List[Event]) -> Optional[str]:
    tracker = DialogueStateTracker.from_events("shopper", [ActionExecuted("action_listen")] + events, domain.slots)
    prediction = policy.predict_action_probabilities(tracker, domain)
    if max(prediction.probabilities) == 0.0:
        return None
    assert prediction.is_no_user_prediction
    return domain.action_names_or_texts[prediction.max_confidence_index]


def test_two_questions_are_answered_then_the_bot_listens(policy: QuestionsPolicy, domain: Domain) -> None:
    turn = asked("faq/shipping_time", "faq/shipping_cost")
    assert predicted(policy, domain, turn) == QUESTIONS_ACTION
    answered = turn + [ActionExecuted(QUESTIONS_ACTION), BotUttered("a"), BotUttered("b")]
    assert predicted(policy, domain, answered) == "action_listen"


def test_one_question_or_a_form_is_left_to_the_rules(policy: QuestionsPolicy, domain: Domain) -> None:
    assert predicted(policy, domain, asked()) is None
    assert predicted(policy, domain, asked("faq/shipping_time")) is None
    in_form = [ActiveLoop("order_status_form")] + asked("faq/shipping_time", "faq/shipping_cost")
    assert predicted(policy, domain, in_form) is None


def selected(key: str, text: str = "x") -> List[Event]:
    parse = {"intent": {"name": "faq", "confidence": 1.0}, "entities": [], "text": text,
             "response_selector": {"faq": {"response": {"intent_response_key": key}}}}
    return [UserUttered(text, parse["intent"], parse_data=parse)]


def test_a_single_shipping_question_naming_a_place_goes_to_the_action_that_names_it(
    policy: QuestionsPolicy, domain: Domain
) -> None:
    """'¿cuánto cuesta el envío a Sevilla?' got the whole table without Sevilla."""
    for key, text in (("faq/shipping_cost", "¿cuánto cuesta el envío a Sevilla?"),
                      ("faq/shipping_time", "¿cuánto tarda a Canarias?"),
                      ("faq/international_shipping", "¿envían a México?")):
        assert predicted(policy, domain, selected(key, text)) == QUESTIONS_ACTION, key
    assert predicted(policy, domain, selected("faq/warranty", "¿cuánto dura la garantía en Sevilla?")) is None
    assert predicted(policy, domain, [ActiveLoop("return_form")] + selected("faq/shipping_cost", "¿y a Sevilla?")) is None


def test_a_question_whose_words_change_nothing_is_left_to_the_rules(policy: QuestionsPolicy, domain: Domain) -> None:
    """Its general answer is the whole answer: no call to the action server."""
    for key, text in (("faq/shipping_cost", "¿el envío es gratis?"), ("faq/shipping_time", "¿cuánto tarda en llegar?"),
                      ("faq/payment_methods", "¿qué formas de pago tienen?"),
                      ("faq/discount_codes", "mi cupón no funciona")):
        assert predicted(policy, domain, selected(key, text)) is None, text


def test_a_question_about_one_thing_goes_to_the_action_that_answers_it(policy: QuestionsPolicy, domain: Domain) -> None:
    for key, text in (("faq/payment_methods", "¿puedo pagar a plazos?"),
                      ("faq/payment_methods", "¿aceptan contra reembolso?"),
                      ("faq/payment_methods", "¿aceptan bizum?"),  # «Sí, aceptamos Bizum.»
                      ("faq/discount_codes", "¿tienen descuento para estudiantes?"),
                      ("faq/shipping_cost", "¿cuánto cuesta el exprés?")):
        assert predicted(policy, domain, selected(key, text)) == QUESTIONS_ACTION, text
