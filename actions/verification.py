"""Proof of ownership, shared by every order form.

Rule: nothing about an order (not even that it exists) is shown or changed
until the shopper has given its number AND the email it was bought with.
An unknown number and a wrong email get the same answer. After
``MAX_ATTEMPTS`` failed tries the conversation is locked for verification:
the shopper is told so plainly (no more tries here, why) and offered a
person. Once verified, the email stays known for the conversation, so
another order of the same customer needs only its number.

A verified shopper whose proven email does not go with a number is no
stranger guessing: nothing can be unlocked with an email already proven, so
the miss is not counted as a try; they are told that none of the orders of
their email has that number (the same words whether the number does not
exist or is someone else's, and never which orders the email has). The
number is kept aside like a failed try's (``kind: not_in_account``): the
shopper then writes the email that order was made with, or a corrected
number, and only that is asked; a wrong email for it then counts as a try.

A failed try keeps both data (slot ``verification_pending``) and asks the
shopper to write only the wrong one: what they type (a 6-digit number or an
email) replaces that datum and the pair is checked again. The bot never says
which of the two was wrong, since that would tell whether the order exists.

Every form ends the same way: the form's ``required_slots`` returns nothing
when the shopper stopped, the store is down, or verification is locked, and
the form's submit action explains which (``verified_order``).
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.shopper_words import acknowledges, lacks_order_number, lets_it_go, says_goodbye
from actions.turns import active_before_message, events_of_form, fresh_reply, requested_form
from core.errors import (
    AssistantError,
    InvalidEmail,
    InvalidOrderNumber,
    InvalidVerificationCorrection,
    OrderNotVerified,
    SameVerificationData,
    StoreDown,
    VerificationLocked,
)
from core.formatting import MONTHS, status_label
from core.policy import StorePolicy, load_policy
from core.store import Order, StoreUnavailable, shared_store

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
    "address_given", "address_problem", "address_fix", "address_confirmed", "return_items",
    "return_quantity", "return_units_known", "return_reason", "exchange_variant",
    "exchange_confirmed", "return_confirmed",
    "issue_description",
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


def parse_correction(text: Any) -> Tuple[Optional[str], Optional[str]]:
    """The order number and/or email a shopper wrote to correct a failed try
    (None for what is not there). Emails are taken out before looking for the
    number, so 'juan123456@correo.com' is an email, not order 123456."""
    text = str(text or "")
    email_match = EMAIL_RE.search(text)
    email = email_match.group(0).lower() if email_match else None
    order_match = ORDER_ID_RE.search(EMAIL_RE.sub(" ", text))
    return (order_match.group(0) if order_match else None), email


# Slots that belong to one order (its lines, units and the yes to its summary).
ORDER_BOUND_SLOTS = ("return_items", "return_quantity", "return_units_known", "return_confirmed",
                     "exchange_confirmed", "cancel_confirmed", "address_confirmed")
NOT_IN_ACCOUNT = "not_in_account"  # the pending pair's kind: a proven email, a number not among its orders


def _is_email(value: Any) -> bool:
    try:
        parse_email(value)
    except InvalidEmail:
        return False
    return True


def _said_now(tracker: Tracker, value: Any) -> bool:
    """Whether ``value`` (a slot's) is in the shopper's latest message, not
    carried over from an earlier step (a verified email put back in a new
    form must not be thanked for as if just given)."""
    text = str((tracker.latest_message or {}).get("text") or "").lower()
    return bool(value) and str(value).strip().lower() in text


def pending_try(tracker: Tracker) -> Optional[Dict[str, str]]:
    """The number and email of the last failed try (``kind`` ``failed``) or of
    a number not among the proven email's orders (``not_in_account``), while
    the shopper corrects one."""
    value = tracker.get_slot("verification_pending")
    if isinstance(value, dict) and value.get("order_id") and value.get("email"):
        return {"order_id": str(value["order_id"]), "email": str(value["email"]),
                "kind": NOT_IN_ACCOUNT if value.get("kind") == NOT_IN_ACCOUNT else "failed"}
    return None


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


def leaving_message(tracker: Tracker) -> Optional[str]:
    """'goodbye' when the shopper's message takes leave, 'let_go' when it
    drops the task ('déjalo'); None otherwise. A 'déjalo' answering a yes/no
    question is that question's no (``interpret_yes_no``), not this."""
    message = tracker.latest_message or {}
    text = str(message.get("text") or "")
    intent = (message.get("intent") or {}).get("name")
    confirming = str(tracker.get_slot("requested_slot") or "").endswith("_confirmed")
    if confirming and YES_RE.search(text):
        return None  # "sí, gracias, adiós": the yes is acted on
    if says_goodbye(text, intent):
        return "goodbye"
    if lets_it_go(text) and not confirming:
        return "let_go"
    return None


def utter_stopped(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """A stopped form's last words: a goodbye when the shopper took leave."""
    left = leaving_message(tracker) == "goodbye"
    dispatcher.utter_message(response="utter_form_left" if left else "utter_form_stopped")


def is_verified(tracker: Tracker) -> bool:
    order_id = tracker.get_slot("order_id")
    email = tracker.get_slot("email")
    return bool(
        order_id
        and email
        and tracker.get_slot("verified_order_id") == order_id
        and tracker.get_slot("verified_email") == email
    )


def is_locked(tracker: Tracker) -> bool:
    """Too many failed tries in this conversation: no more verification."""
    return (tracker.get_slot("verification_attempts") or 0) >= MAX_ATTEMPTS


def tell_bridge_verified(dispatcher: CollectingDispatcher, order: Order) -> None:
    """A silent message for the handoff bridge: this conversation's shopper
    proved to be the order's customer (number + purchase e-mail). The bridge
    links the conversation to the customer (its other conversations, on any
    channel, appear on the agents' case card) and never shows it; in ``rasa
    shell`` it prints as JSON. Same shape as the handoff payload's customer."""
    dispatcher.utter_message(json_message={"customer": {
        "id": str(order.customer.id), "name": order.customer.name, "email": order.customer.email.lower(),
        "verified_order_id": order.order_id, "verified_by": "order_email"}})


def utter_error(dispatcher: CollectingDispatcher, error: AssistantError) -> None:
    dispatcher.utter_message(response=error.response, **error.variables)


def reset_task_slots() -> List[EventType]:
    return [SlotSet(slot, None) for slot in TASK_SLOTS] + [
        SlotSet("form_stopped", None),
        SlotSet("store_error", None),
        SlotSet("verification_pending", None),
    ]


def turn_owner(tracker: Tracker) -> Optional[str]:
    """Which validator checks this turn's number and email: the first of the
    two the message filled. The other returns nothing (rasa-sdk passes it the
    owner's result), so one message fills both without a second check, a
    second counted try or a second answer."""
    return next((name for name in tracker.slots_to_validate() if name in ("order_id", "email")), None)


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

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Task slots left by an earlier run are dropped; a new request ends
        this run and starts its own form; a goodbye or a 'déjalo' ends it (its
        submit action says so) instead of the question being asked again."""
        cleared = self.clear_stale_slots(tracker)
        target = await self.switch_target(tracker)
        if target:
            return reset_task_slots() + [SlotSet("requested_slot", None), FollowupAction(target)]
        if leaving_message(tracker):
            stopped = [SlotSet("form_stopped", True)]
            tracker.add_slots(stopped)
            next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
            return cleared + stopped + ([next_slot] if next_slot else [])
        return cleared + await super().run(dispatcher, tracker, domain)

    def clear_stale_slots(self, tracker: Tracker) -> List[EventType]:
        """Task slots with a value not set in this run of the form (a run that
        ended without its submit action: another form took over) are
        cleared, so the new run asks them instead of reusing them."""
        run = events_of_form(tracker, self.form)
        if not any(e.get("event") == "active_loop" and e.get("name") == self.form for e in run):
            return []  # no activation in the events: nothing tells which run set them
        events = list(tracker.events)
        before = events[:len(events) - len(run)]
        set_before = {e.get("name") for e in before if e.get("event") == "slot"}
        set_in_run = {e.get("name") for e in run if e.get("event") == "slot"}
        stale = [s for s in TASK_SLOTS
                 if tracker.get_slot(s) is not None and s in set_before and s not in set_in_run]
        tracker.slots.update({s: None for s in stale})
        return [SlotSet(s, None) for s in stale]

    async def switch_target(self, tracker: Tracker) -> Optional[str]:
        """The form to switch to when the shopper's reply is a new request: a
        task intent with good confidence that does not answer the question
        asked; the same task asked again restarts this form once past
        verification (nothing of the old run is kept)."""
        target = requested_form(tracker)
        if target is None or not fresh_reply(tracker, self.form) or not active_before_message(tracker, self.form):
            return None
        if target == self.form and tracker.get_slot("requested_slot") in (None, "order_id", "email"):
            return None
        if await self.answers_question(tracker):
            return None
        return target

    async def answers_question(self, tracker: Tracker) -> bool:
        """Whether the latest message answers the slot asked (so a task intent
        in it is no new request): a yes or no to a confirmation. Forms add
        their own answers (an address, a size, an item)."""
        requested = str(tracker.get_slot("requested_slot") or "")
        text = str((tracker.latest_message or {}).get("text") or "")
        return requested.endswith("_confirmed") and interpret_yes_no(text, tracker) is not None

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        if tracker.get_slot("form_stopped") or tracker.get_slot("store_error") or is_locked(tracker):
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
        text = str((tracker.latest_message or {}).get("text") or "")
        if tracker.get_slot("requested_slot") == "order_id" and (lacks_order_number(text) or acknowledges(text)):
            # "no sé el número", or "ok" to the question: no error and no stop; the
            # question comes back (with where to find it, or the shopper's own orders).
            return {"order_id": None}
        if wants_to_stop(tracker):
            return {"order_id": None, "form_stopped": True}
        if turn_owner(tracker) != "order_id":
            return {}
        return await self._check_turn(dispatcher, tracker)

    async def validate_email(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") == "email" and acknowledges(
                str((tracker.latest_message or {}).get("text") or "")):
            return {"email": None}  # "ok" to the question: asked again, no "no parece un email"
        if wants_to_stop(tracker):
            return {"email": None, "form_stopped": True}
        if turn_owner(tracker) != "email":
            return {}
        return await self._check_turn(dispatcher, tracker)

    async def _check_turn(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[Text, Any]:
        """One verification step from what the shopper's message filled (the
        number, the email, both, or a correction after a failed try)."""
        retry = pending_try(tracker)
        if retry:
            order_id, email = parse_correction((tracker.latest_message or {}).get("text"))
            if not order_id and not email:
                utter_error(dispatcher, InvalidVerificationCorrection())
                return {"order_id": None, "email": None}
            pair = (order_id or retry["order_id"], email or retry["email"])
            if pair == (retry["order_id"], retry["email"]):
                # The same data again: no new guess, so no try is counted.
                utter_error(dispatcher, SameVerificationData())
                return {"order_id": None, "email": None}
            return await self._verify(pair[0], pair[1], dispatcher, tracker)
        candidates = tracker.slots_to_validate()
        result: Dict[Text, Any] = {}
        order_id = email = None
        number_error: Optional[InvalidOrderNumber] = None
        try:
            order_id = parse_order_id(tracker.get_slot("order_id"))
        except InvalidOrderNumber as error:
            if "order_id" in candidates:
                number_error = error
            result["order_id"] = None
        if number_error is not None:
            if "email" in candidates and _is_email(tracker.get_slot("email")) and \
                    _said_now(tracker, tracker.get_slot("email")):
                # only the email ("no sé el número… es xabier@…"): kept; the number is still needed
                dispatcher.utter_message(response="utter_email_kept_need_number")
            elif _said_now(tracker, tracker.get_slot("order_id")):
                utter_error(dispatcher, number_error)
            # else neither came from this message (a verified shopper's new form): the question is asked
        try:
            email = parse_email(tracker.get_slot("email"))
        except InvalidEmail as error:
            if "email" in candidates:
                utter_error(dispatcher, error)
                result["email"] = None
            elif tracker.get_slot("verified_email"):
                # Verified earlier in this conversation: the email is not asked again.
                email = str(tracker.get_slot("verified_email"))
        if order_id and email:
            return await self._verify(order_id, email, dispatcher, tracker)
        if order_id:
            result["order_id"] = order_id
        if email and "email" in candidates:
            result["email"] = email
        return result

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
            return {"order_id": order_id, "email": email, "verification_pending": None}
        try:
            order = await shared_store().get_order(order_id)
        except StoreUnavailable:
            return {"order_id": order_id, "email": email, "store_error": True}
        if order is not None and order.customer.email.lower() == email:
            tell_bridge_verified(dispatcher, order)
            switched = tracker.get_slot("verified_order_id") not in (None, order_id)
            return {
                # another order than the one the form was working on: what was chosen of
                # that one (its lines, units, yes) is dropped and asked again for this one;
                # what the shopper said in words (the size wanted, the reason) stays
                **({slot: None for slot in ORDER_BOUND_SLOTS} if switched else {}),
                "order_id": order_id,
                "email": email,
                "verified_order_id": order_id,
                "verified_email": email,
                "customer_id": str(order.customer.id),
                "customer_name": order.customer.name,
                "verification_pending": None,
            }
        if email == tracker.get_slot("verified_email"):
            # The email is proven in this conversation: only the number is
            # wrong, and guessing numbers with it can only ever find the
            # shopper's own orders. Not a try; both are kept aside so that the
            # shopper writes only the other email (or a corrected number).
            dispatcher.utter_message(response="utter_order_not_in_account", order_id=order_id)
            return {"order_id": None, "email": None,
                    "verification_pending": {"order_id": order_id, "email": email, "kind": NOT_IN_ACCOUNT}}
        attempts = int(tracker.get_slot("verification_attempts") or 0) + 1
        if attempts < MAX_ATTEMPTS:
            utter_error(dispatcher, OrderNotVerified(attempts_left=MAX_ATTEMPTS - attempts))
        # Both data are kept aside (not as slots, so the form asks again) for the
        # shopper to correct only the wrong one; the same whichever it was.
        return {
            "order_id": None,
            "email": None,
            "verification_attempts": float(attempts),
            "verification_pending": {"order_id": order_id, "email": email},
        }

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
        utter_stopped(dispatcher, tracker)
        return None, events
    if tracker.get_slot("store_error"):
        utter_error(dispatcher, StoreDown())
        return None, events
    if not is_verified(tracker):
        if is_locked(tracker):
            utter_error(dispatcher, VerificationLocked(max_attempts=MAX_ATTEMPTS))
        else:
            dispatcher.utter_message(response="utter_verification_failed")
        return None, events
    try:
        order = await shared_store().get_order(tracker.get_slot("verified_order_id"))
    except StoreUnavailable:
        utter_error(dispatcher, StoreDown())
        return None, events
    if order is None or order.customer.email.lower() != tracker.get_slot("verified_email"):
        # The order vanished or changed hands since verification: start over.
        dispatcher.utter_message(response="utter_verification_failed")
        return None, events + [SlotSet("verified_order_id", None)]
    return order, events


ORDER_BUTTONS = 5  # the shopper's most recent orders offered as buttons


def order_button(order: Order) -> Dict[str, str]:
    """«101490 · 3 jul · entregado»: short enough for a Telegram button."""
    day = order.placed_at.date()
    return {"title": f"{order.order_id} · {day.day} {MONTHS[day.month - 1][:3]} · {status_label(order.status)}",
            "payload": f'/inform{{"order_id":"{order.order_id}"}}'}


async def own_orders(tracker: Tracker) -> List[Order]:
    """The orders of the customer whose email this conversation proved (by an
    order and its email, or by a Telegram phone), newest first; [] when none
    is proven or the store cannot be read (the number is then asked)."""
    customer_id = tracker.get_slot("customer_id")
    if not tracker.get_slot("verified_email") or not str(customer_id or "").isdigit():
        return []
    try:
        orders = await shared_store().orders_for_customer(int(str(customer_id)))
    except StoreUnavailable:
        return []
    email = str(tracker.get_slot("verified_email"))
    return [o for o in orders if o.customer.email.lower() == email]


async def ask_order_id(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The question for the order number, shared by every form. After a
    failed try: whichever datum was wrong (never which it was). A shopper
    whose email is proven picks one of their own orders from buttons (or
    writes the number). "No sé el número" gets where to find it."""
    retry = pending_try(tracker)
    if retry and retry["kind"] == NOT_IN_ACCOUNT:
        dispatcher.utter_message(response="utter_ask_other_order_email", order_id=retry["order_id"])
        return
    if retry:
        dispatcher.utter_message(response="utter_ask_verification_correction")
        return
    orders = await own_orders(tracker)
    if orders:
        dispatcher.utter_message(response="utter_ask_which_order",
                                 buttons=[order_button(o) for o in orders[:ORDER_BUTTONS]])
        return
    text = str((tracker.latest_message or {}).get("text") or "")
    if tracker.get_slot("requested_slot") == "order_id" and lacks_order_number(text):
        dispatcher.utter_message(response="utter_order_number_help")
        return
    dispatcher.utter_message(response="utter_ask_order_id")


class ActionAskOrderId(Action):
    """The forms' question for the order number (``ask_order_id``)."""

    def name(self) -> Text:
        return "action_ask_order_id"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        await ask_order_id(dispatcher, tracker)
        return []
