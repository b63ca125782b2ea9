"""Several FAQ questions in one message ("¿cuánto tarda el envío y cuánto
cuesta?"): each answer, in the order asked. bot/nlu.py finds the questions
(parse-data ``questions``); bot/policies.py calls this action for them."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

MAX_ANSWERS = 3  # more than this in one message reads as a wall of text


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
