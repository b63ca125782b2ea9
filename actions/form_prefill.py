"""A second extraction pass for the forms whose task slots the shopper may
have answered before they were asked.

Why: ``required_slots`` only lists a form's task slots once the order is
verified, and rasa_sdk extracts custom slots before validating. So in the
turn that verifies the order, what the shopper already said ("me llegó roto
el altavoz", "cámbialas por una talla 41") would not be extracted yet and the
form would ask it again. After a successful verification the extraction and
validation run once more, so only what is missing is asked.
"""
from __future__ import annotations

from typing import Collection, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.turns import events_of_form, response_of
from actions.verification import OrderFormValidation, is_verified


def form_texts(tracker: Tracker, form: str) -> List[str]:
    """The shopper's messages of the current run of ``form``."""
    return [str(e.get("text") or "") for e in events_of_form(tracker, form) if e.get("event") == "user"]


def said_in_form(tracker: Tracker, form: str, responses: Collection[str]) -> bool:
    """The bot already uttered one of ``responses`` in this run of the form."""
    return any(
        e.get("event") == "bot" and response_of(e) in responses
        for e in events_of_form(tracker, form)
    )


class PrefillAfterVerification(OrderFormValidation):
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        was_verified = is_verified(tracker)
        events = await super().run(dispatcher, tracker, domain)
        if was_verified or not is_verified(tracker):
            return events
        if any(e.get("event") == "followup" for e in events):
            return events  # a new request: another form takes over
        # ``tracker`` now holds this run's slots (rasa_sdk adds them as it goes);
        # the checks of the first pass (stale slots, a new request) are not repeated.
        again = await super(OrderFormValidation, self).run(dispatcher, tracker, domain)
        kept = [e for e in events if not (e.get("event") == "slot" and e.get("name") == "requested_slot")]
        return kept + again


__all__: List[Text] = ["PrefillAfterVerification", "events_of_form", "form_texts", "said_in_form"]
