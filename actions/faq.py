"""FAQ answers that need a look at the message: several FAQ questions in one
message ("¿cuánto tarda el envío y cuánto cuesta?") get each answer, in the
order asked (bot/nlu.py finds the questions, parse-data ``questions``;
bot/policies.py calls this action for them); an out-of-scope question gets
the honest answer worded for its kind (actions/off_topic.py)."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.off_topic import BUSINESS, GENERAL, OTHER_COMPANY, PHYSICAL_STORE, PRODUCT, off_topic_kind
from actions.policy import load_policy

MAX_ANSWERS = 3  # more than this in one message reads as a wall of text
OUT_OF_SCOPE_RESPONSES = {PRODUCT: "utter_out_of_scope_product", BUSINESS: "utter_out_of_scope_business",
                          GENERAL: "utter_out_of_scope"}


class ActionAnswerQuestions(Action):
    def name(self) -> Text:
        return "action_answer_questions"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        responses = (domain or {}).get("responses") or {}
        asked = [str(k) for k in (tracker.latest_message or {}).get("questions") or []]
        known = [f"utter_{key}" for key in asked if f"utter_{key}" in responses][:MAX_ANSWERS]
        for name in known:
            dispatcher.utter_message(response=name)
        if not known:  # keys the domain lacks (a model older than the domain): ask to rephrase
            dispatcher.utter_message(response="utter_default")
        return []


class ActionOutOfScope(Action):
    """The honest "no lo sé", worded for the kind of question
    (actions/off_topic.py): the store's own fact, a person for products,
    "ask them" for another company, the contact email for business, and no
    offer of a person where none could help."""

    def name(self) -> Text:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        message = tracker.latest_message or {}
        companies = [str(c) for c in ((message.get("mentions") or {}).get("other_company") or [])]
        kind = off_topic_kind(str(message.get("text") or ""), companies)
        if kind == PHYSICAL_STORE:
            response = "utter_out_of_scope_online_only" if load_policy().online_only else "utter_out_of_scope_product"
            dispatcher.utter_message(response=response)
        elif kind == OTHER_COMPANY:
            dispatcher.utter_message(response="utter_out_of_scope_other_company", company=companies[0])
        else:
            dispatcher.utter_message(response=OUT_OF_SCOPE_RESPONSES.get(kind, "utter_out_of_scope"))
        return []
