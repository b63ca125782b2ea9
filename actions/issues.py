"""Damaged, wrong or incomplete items and payment problems: the bot collects
the order and a short description, then a person takes over with both.

Unlike the other forms, failing verification does not end in a refusal: the
shopper still reaches a person (flagged unverified), since that is the only
way forward for these cases.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import hand_over
from actions.store import Order
from actions.verification import OrderFormValidation, is_verified, reset_task_slots, wants_to_stop

REASON_BY_FORM = {"damaged_form": "damaged_or_wrong_item", "payment_form": "payment_problem"}


class _IssueFormValidation(OrderFormValidation):
    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        return ["issue_description"]

    async def validate_issue_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"issue_description": None, "form_stopped": True}
        return {"issue_description": self.free_text(value)}


class ValidateDamagedForm(_IssueFormValidation):
    form = "damaged_form"


class ValidatePaymentForm(_IssueFormValidation):
    form = "payment_form"


class ActionReportIssue(Action):
    """Submit of damaged_form and payment_form: hand over with the case."""

    def name(self) -> Text:
        return "action_report_issue"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if tracker.get_slot("form_stopped"):
            dispatcher.utter_message(response="utter_form_stopped")
            return reset_task_slots()
        form = next(
            (e.get("name") for e in reversed(tracker.events)
             if e.get("event") == "active_loop" and e.get("name") in REASON_BY_FORM),
            "damaged_form",
        )
        details = {
            "description": tracker.get_slot("issue_description"),
            "order_id": tracker.get_slot("verified_order_id") if is_verified(tracker) else None,
            "verified": is_verified(tracker),
            "store_error": bool(tracker.get_slot("store_error")),
        }
        return hand_over(dispatcher, tracker, REASON_BY_FORM[form], details)
