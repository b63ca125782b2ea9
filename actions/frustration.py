"""A frustrated shopper (bot/policies.py decides when): say sorry first, or
hand over to a person with reason ``frustration``."""
from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionReverted, EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import hand_over
from actions.turns import response_of

SORRY = "Lo siento mucho. "


def apologised_in_this_flow(tracker: Tracker) -> bool:
    """Whether the frustration apology was said since the message that started
    the current flow (the last form started, else this turn), so an answer that
    carries its own apology (a late order) does not say sorry twice."""
    events = list(tracker.events)
    opened = next((i for i in range(len(events) - 1, -1, -1)
                   if events[i].get("event") == "active_loop" and events[i].get("name")), len(events) - 1)
    start = next((i for i in range(opened, -1, -1) if events[i].get("event") == "user"), 0)
    return any(e.get("event") == "bot" and response_of(e) == "utter_frustration_apology" for e in events[start:])


def sorry(tracker: Optional[Tracker]) -> str:
    """The {sorry} of an answer that apologises: empty when already said."""
    return "" if tracker is not None and apologised_in_this_flow(tracker) else SORRY


class ActionAcknowledgeFrustration(Action):
    """Apologise, then revert this action: the dialogue answers the message
    as if the apology had not come in between (rules keep matching)."""

    def name(self) -> Text:
        return "action_acknowledge_frustration"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_frustration_apology")
        return [ActionReverted()]


class ActionHandoffFrustration(Action):
    """High or sustained frustration: sorry, and a person takes over."""

    def name(self) -> Text:
        return "action_handoff_frustration"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_frustration_handoff")
        return hand_over(dispatcher, tracker, "frustration", announce=False)  # the score is in every payload
