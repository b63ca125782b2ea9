"""Damaged, wrong or incomplete items and payment problems: the bot collects
the order and a short description, then a person takes over with both.

The shopper's first message usually is the description ("me llegó roto el
altavoz 😡"): it is kept and never asked again, and the first answer
apologises for that problem in the store's voice (``actions.issue_text``
reads which problem it is). Only what is missing is asked.

Unlike the other forms, failing verification does not end in a refusal: the
shopper still reaches a person (flagged unverified), since that is the only
way forward for these cases.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.form_prefill import PrefillAfterVerification, form_texts, said_in_form
from actions.handoff import hand_over
from actions.issue_text import Problem, read_problem
from actions.shopper_words import names_the_same_order
from actions.turns import active_before_message
from actions.verification import (
    MAX_FREE_TEXT,
    ask_order_id,
    is_verified,
    reset_task_slots,
    utter_stopped,
    wants_to_stop,
)
from core.store import Order

REASON_BY_FORM = {"damaged_form": "damaged_or_wrong_item", "payment_form": "payment_problem"}
APOLOGIES = {
    "broken": "utter_issue_apology_broken",
    "wrong": "utter_issue_apology_wrong",
    "missing": "utter_issue_apology_missing",
    "generic": "utter_issue_apology_generic",
    "payment": "utter_issue_apology_payment",
}


def current_form(tracker: Tracker) -> str:
    """The issue form of this conversation's latest activation."""
    return str(next(
        (e.get("name") for e in reversed(tracker.events)
         if e.get("event") == "active_loop" and e.get("name") in REASON_BY_FORM),
        (tracker.active_loop or {}).get("name") if (tracker.active_loop or {}).get("name") in REASON_BY_FORM
        else "damaged_form",
    ))


def described(tracker: Tracker, form: str) -> Optional[str]:
    """What the shopper's messages of this form already describe, joined."""
    texts = [t for t in form_texts(tracker, form) if read_problem(t, form).described]
    joined = " ".join(" ".join(texts).split())
    return joined[:MAX_FREE_TEXT] or None


def problem_of(tracker: Tracker, form: str) -> Problem:
    for text in form_texts(tracker, form):
        problem = read_problem(text, form)
        if problem.described:
            return problem
    return read_problem("", form)


def apologise_once(dispatcher: CollectingDispatcher, tracker: Tracker, form: str) -> None:
    """The apology for this problem, the first time the bot answers in this form."""
    if said_in_form(tracker, form, APOLOGIES.values()):
        return
    problem = problem_of(tracker, form)
    plural = bool(problem.adjective and problem.adjective.endswith("s"))
    dispatcher.utter_message(
        response=APOLOGIES[problem.kind],
        damage=problem.adjective or "en mal estado",
        arrived="hayan llegado" if plural else "haya llegado",
    )


class _IssueFormValidation(PrefillAfterVerification):
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """A problem is not pinned on the order spoken of before ("me llegó
        roto el altavoz" after the status of another order): unless the
        message names a number or points at that order ("ese pedido"), the
        form asks which order, offering the shopper's own orders as buttons."""
        assumed = self.assumed_order(tracker)
        if assumed is None:
            return await super().run(dispatcher, tracker, domain)
        tracker.slots["order_id"] = None
        return [SlotSet("order_id", None)] + await super().run(dispatcher, tracker, domain)

    def assumed_order(self, tracker: Tracker) -> Optional[str]:
        """The earlier order the form would take for granted on the turn that starts it."""
        order_id = tracker.get_slot("order_id")
        if not order_id or active_before_message(tracker, self.form):
            return None
        message = tracker.latest_message or {}
        if any(e.get("entity") == "order_id" for e in message.get("entities") or []):
            return None
        if str(order_id) in str(message.get("text") or "") or names_the_same_order(str(message.get("text") or "")):
            return None
        return str(order_id)

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        return ["issue_description"]

    async def answers_question(self, tracker: Tracker) -> bool:
        """What happened is free text: it often names another task ("llegó
        roto y quiero el dinero"), so it is taken as the description."""
        return tracker.get_slot("requested_slot") == "issue_description" or await super().answers_question(tracker)

    async def extract_issue_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The description the shopper already gave (the message that started
        the form, or one since), so it is not asked again."""
        if tracker.get_slot("issue_description") or tracker.get_slot("requested_slot") == "issue_description":
            return {}
        text = described(tracker, self.form)
        return {"issue_description": text} if text else {}

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


class _AskWithApology(Action):
    """Asks an issue form's slot; the first question of the form comes after
    the apology ("Siento mucho que te haya llegado roto…")."""

    form = ""
    slot = ""

    def name(self) -> Text:
        return f"action_ask_{self.form}_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        apologise_once(dispatcher, tracker, self.form)
        if self.slot == "order_id":
            await ask_order_id(dispatcher, tracker)  # a proven email picks from its own orders
        else:
            dispatcher.utter_message(response=f"utter_ask_{self.slot}")
        return []


class ActionAskDamagedOrderId(_AskWithApology):
    form, slot = "damaged_form", "order_id"


class ActionAskDamagedEmail(_AskWithApology):
    form, slot = "damaged_form", "email"


class ActionAskDamagedDescription(_AskWithApology):
    form, slot = "damaged_form", "issue_description"


class ActionAskPaymentOrderId(_AskWithApology):
    form, slot = "payment_form", "order_id"


class ActionAskPaymentEmail(_AskWithApology):
    form, slot = "payment_form", "email"


class ActionAskPaymentDescription(_AskWithApology):
    form, slot = "payment_form", "issue_description"


class ActionReportIssue(Action):
    """Submit of damaged_form and payment_form: hand over with the case."""

    def name(self) -> Text:
        return "action_report_issue"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if tracker.get_slot("form_stopped"):
            utter_stopped(dispatcher, tracker)
            return reset_task_slots()
        form = current_form(tracker)
        apologise_once(dispatcher, tracker, form)
        details = {
            "description": tracker.get_slot("issue_description") or described(tracker, form),
            "problem": problem_of(tracker, form).kind,
            "order_id": tracker.get_slot("verified_order_id") if is_verified(tracker) else None,
            "verified": is_verified(tracker),
            "store_error": bool(tracker.get_slot("store_error")),
        }
        return hand_over(dispatcher, tracker, REASON_BY_FORM[form], details)
