"""Session start: load the store's policy values and brand voice into slots.

Why slots: domain.yml answers use {return_window_days} and friends, and the
brand-voice variation is chosen by the ``brand_voice`` slot; filling them
here keeps the policy file the single source of both.
"""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from core.policy import load_policy


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        events.extend(SlotSet(name, value) for name, value in load_policy().answer_slots().items())
        events.append(ActionExecuted("action_listen"))
        return events
