"""A greeting in the middle of a conversation ("¿sigues ahí?", "hola??").

Why an action: the first "hola" gets the introduction (what the bot can
do); the same intent later means "are you still there?", and the whole
introduction again reads as if the bot had forgotten the conversation. Inside
a form the form's question follows (the rules in data/rules/chitchat.yml).
"""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


def bot_spoke_this_session(tracker: Tracker) -> bool:
    """The bot said something (not a silent message for the bridge) since the session started."""
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            return False
        if event.get("event") == "bot" and event.get("text"):
            return True
    return False


class ActionGreet(Action):
    def name(self) -> Text:
        return "action_greet"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if not bot_spoke_this_session(tracker):
            dispatcher.utter_message(response="utter_greet")
        elif (tracker.active_loop or {}).get("name"):
            dispatcher.utter_message(response="utter_still_here")  # the form's question follows
        else:
            dispatcher.utter_message(response="utter_still_here_what_else")
        return []
