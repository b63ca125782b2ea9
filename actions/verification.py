"""Proof of ownership, shared by every order form.

Rule: nothing about an order (not even that it exists) is shown or changed
until the shopper has given its number AND the email it was bought with.
An unknown number and a wrong email get the same answer. After
``MAX_ATTEMPTS`` failed tries the conversation is locked for verification and
the shopper is offered a person. Once verified, the email stays known for the
conversation, so another order of the same customer needs only its number.

Every form ends the same way: the form's ``required_slots`` returns nothing
when the shopper stopped, the store is down, or verification is locked, and
the form's submit action explains which (``verified_order``).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.errors import (
    AssistantError,
    InvalidEmail,
    InvalidOrderNumber,
    OrderNotVerified,
    StoreDown,
)
from actions.policy import StorePolicy, load_policy
from actions.store import Order, StoreUnavailable, shared_store

MAX_ATTEMPTS = 3
# 6 digits that are not part of a longer number (postal codes have 5, phones 9).
ORDER_ID_RE = re.compile(r"(?<![\d.,])\d{6}(?![\d.,]?\d)")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Longest text kept from a free-text answer (descriptions, reasons, streets).
MAX_FREE_TEXT = 500

# Slots each form fills after verification; reset whenever a task ends so a
# later form never reuses an old confirmation.
TASK_SLOTS = (
    "cancel_confirmed", "new_street", "new_postal_code", "new_city", "new_province",
    "address_given", "address_problem", "address_confirmed", "return_items", "return_reason", "issue_description",
)


def parse_order_id(value: Any) -> str:
    """The 6-digit order number inside ``value`` (a bare number, '#482913',
    'nº 482913', 'es el 482913'...); ``InvalidOrderNumber`` otherwise."""
    text = str(value or "")
    match = ORDER_ID_RE.search(text)
    if not match:
        raise InvalidOrderNumber("no 6-digit order number")
    return match.group(0)


def parse_email(value: Any) -> str:
    match = EMAIL_RE.search(str(value or ""))
    if not match:
        raise InvalidEmail("no email address")
    return match.group(0).lower()


def wants_to_stop(tracker: Tracker) -> bool:
    """A plain 'no' / 'déjalo' while a form asks for data means: stop."""
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name")
    text = message.get("text") or ""
    return intent == "deny" and not re.search(r"\d|@", text)


YES_RE = re.compile(r"^\W*(s[ií]+p?|vale|ok|okay|dale|claro|confirm\w*|adelante|de acuerdo|correct[oa]|exacto|perfecto|hazlo|h[aá]galo|canc[eé]l\w*|por supuesto)\b", re.I)
NO_RE = re.compile(r"^\W*(no+|nop|nel|para nada|mejor no|no quiero|d[eé]jalo|olv[ií]dalo)\b", re.I)


def interpret_yes_no(value: Any, tracker: Tracker) -> Optional[bool]:
    """A confirmation answer: buttons and affirm/deny intents first, then the
    words; None when it is neither (the question is asked again)."""
    if isinstance(value, bool):
        return value
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    text = str(value or tracker.latest_message.get("text") or "")
    if NO_RE.search(text) or (intent == "deny" and not YES_RE.search(text)):
        return False
    if YES_RE.search(text) or intent == "affirm":
        return True
    return None


def is_verified(tracker: Tracker) -> bool:
    order_id = tracker.get_slot("order_id")
    email = tracker.get_slot("email")
    return bool(
        order_id
        and email
        and tracker.get_slot("verified_order_id") == order_id
        and tracker.get_slot("verified_email") == email
    )


def utter_error(dispatcher: CollectingDispatcher, error: AssistantError) -> None:
    dispatcher.utter_message(response=error.response, **error.variables)


def reset_task_slots() -> List[EventType]:
    return [SlotSet(slot, None) for slot in TASK_SLOTS] + [
        SlotSet("form_stopped", None),
        SlotSet("store_error", None),
    ]


class OrderFormValidation(FormValidationAction):
    """Base of every ``validate_<form>``: verification first, then the
    form's own slots (``task_slots``) only for a verified order."""

    form: Text = ""

    def name(self) -> Text:
        return f"validate_{self.form}"

    @property
    def policy(self) -> StorePolicy:
        return load_policy()

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        """Slots to ask once the order is verified; [] ends the form."""
        return []

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        if (
            tracker.get_slot("form_stopped")
            or tracker.get_slot("store_error")
            or (tracker.get_slot("verification_attempts") or 0) >= MAX_ATTEMPTS
        ):
            return []
        if not is_verified(tracker):
            return ["order_id", "email"]
        try:
            order = await shared_store().get_order(tracker.get_slot("order_id"))
        except StoreUnavailable:
            return []
        if order is None:
            return []
        return ["order_id", "email"] + await self.task_slots(order, tracker)

    async def validate_order_id(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"order_id": None, "form_stopped": True}
        try:
            order_id = parse_order_id(value)
        except InvalidOrderNumber as error:
            utter_error(dispatcher, error)
            return {"order_id": None}
        email = tracker.get_slot("email")
        if email:
            try:
                email = parse_email(email)
            except InvalidEmail:
                return {"order_id": order_id}
            return await self._verify(order_id, email, dispatcher, tracker)
        return {"order_id": order_id}

    async def validate_email(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"email": None, "form_stopped": True}
        if value and value == tracker.get_slot("verified_email") and is_verified(tracker):
            return {"email": value}
        try:
            email = parse_email(value)
        except InvalidEmail as error:
            utter_error(dispatcher, error)
            return {"email": None}
        order_id = tracker.get_slot("order_id")
        if order_id:
            return await self._verify(order_id, email, dispatcher, tracker)
        return {"email": email}

    async def _verify(
        self,
        order_id: str,
        email: str,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
    ) -> Dict[Text, Any]:
        if (
            tracker.get_slot("verified_order_id") == order_id
            and tracker.get_slot("verified_email") == email
        ):
            return {"order_id": order_id, "email": email}
        try:
            order = await shared_store().get_order(order_id)
        except StoreUnavailable:
            return {"order_id": order_id, "email": email, "store_error": True}
        if order is not None and order.customer.email.lower() == email:
            return {
                "order_id": order_id,
                "email": email,
                "verified_order_id": order_id,
                "verified_email": email,
                "customer_id": str(order.customer.id),
                "customer_name": order.customer.name,
            }
        attempts = int(tracker.get_slot("verification_attempts") or 0) + 1
        if attempts < MAX_ATTEMPTS:
            utter_error(dispatcher, OrderNotVerified(attempts_left=MAX_ATTEMPTS - attempts))
        return {"order_id": None, "email": None, "verification_attempts": float(attempts)}

    def confirmation(self, slot: str, value: Any, tracker: Tracker) -> Dict[Text, Any]:
        """Shared by the yes/no questions of the forms."""
        return {slot: interpret_yes_no(value, tracker)}

    def free_text(self, value: Any) -> Optional[str]:
        text = " ".join(str(value or "").split())
        return text[:MAX_FREE_TEXT] or None


async def current_order(tracker: Tracker) -> Optional[Order]:
    """The verified order, for questions asked inside a form; None when the
    store cannot be read (the question is then asked without the detail)."""
    try:
        return await shared_store().get_order(tracker.get_slot("verified_order_id"))
    except StoreUnavailable:
        return None


async def verified_order(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> Tuple[Optional[Order], List[EventType]]:
    """For a form's submit action: the verified order, freshly read, or None
    after telling the shopper why not (stopped, store down, locked).
    The events returned reset the form's task slots in every case."""
    events = reset_task_slots()
    if tracker.get_slot("form_stopped"):
        dispatcher.utter_message(response="utter_form_stopped")
        return None, events
    if tracker.get_slot("store_error"):
        utter_error(dispatcher, StoreDown())
        return None, events
    if not is_verified(tracker):
        dispatcher.utter_message(response="utter_verification_locked")
        return None, events
    try:
        order = await shared_store().get_order(tracker.get_slot("verified_order_id"))
    except StoreUnavailable:
        utter_error(dispatcher, StoreDown())
        return None, events
    if order is None or order.customer.email.lower() != tracker.get_slot("verified_email"):
        # The order vanished or changed hands since verification: start over.
        dispatcher.utter_message(response="utter_verification_locked")
        return None, events + [SlotSet("verified_order_id", None)]
    return order, events
