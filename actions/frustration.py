"""A frustrated shopper (bot/policies.py decides when): say sorry first, or
hand over to a person with reason ``frustration``."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionReverted, EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import hand_over


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
