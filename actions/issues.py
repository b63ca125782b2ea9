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
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.form_prefill import PrefillAfterVerification, form_texts, said_in_form
from actions.handoff import hand_over
from actions.issue_text import Problem, read_problem
from actions.store import Order
from actions.verification import MAX_FREE_TEXT, is_verified, reset_task_slots, utter_stopped, wants_to_stop

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
    return next(
        (e.get("name") for e in reversed(tracker.events)
         if e.get("event") == "active_loop" and e.get("name") in REASON_BY_FORM),
        (tracker.active_loop or {}).get("name") if (tracker.active_loop or {}).get("name") in REASON_BY_FORM
        else "damaged_form",
    )


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
