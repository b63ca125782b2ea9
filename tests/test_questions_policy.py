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


def selected(key: str) -> List[Event]:
    parse = {"intent": {"name": "faq", "confidence": 1.0}, "entities": [], "text": "x",
             "response_selector": {"faq": {"response": {"intent_response_key": key}}}}
    return [UserUttered("x", parse["intent"], parse_data=parse)]


def test_a_single_shipping_question_goes_to_the_action_that_can_name_the_place(
    policy: QuestionsPolicy, domain: Domain
) -> None:
    """'¿cuánto cuesta el envío a Sevilla?' got the whole table without Sevilla."""
    for key in ("faq/shipping_cost", "faq/shipping_time", "faq/international_shipping"):
        assert predicted(policy, domain, selected(key)) == QUESTIONS_ACTION, key
    assert predicted(policy, domain, selected("faq/warranty")) is None
    assert predicted(policy, domain, [ActiveLoop("return_form")] + selected("faq/shipping_cost")) is None


def test_a_payment_question_goes_to_the_action_that_reads_instalments(policy: QuestionsPolicy, domain: Domain) -> None:
    assert predicted(policy, domain, selected("faq/payment_methods")) == QUESTIONS_ACTION
