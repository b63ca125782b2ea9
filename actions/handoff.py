"""Handing the conversation to a person.

The assistant does not talk to the agent queue itself: it emits ONE
structured bot message (a ``custom`` payload ``{"handoff": {...}}``). The
bridge (handoff/) queues the conversation with that context and, while a
person has it, sends nothing to Rasa; when the agent closes it asks Rasa for
the "I'm back" line. The conversation is never paused in Rasa: who talks to
the shopper is the bridge's state machine's decision alone, so a failed
resume can never leave a shopper unanswered. In ``rasa shell`` the shopper
still reads the Spanish announcement.

The payload never carries more than the conversation already proved: the
customer block is present only for a verified order.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.turns import TASK_FORMS, previous_bot_turn, response_of
from actions.verification import (
    MAX_ATTEMPTS,
    is_locked,
    is_verified,
    parse_correction,
    parse_order_id,
    reset_task_slots,
    utter_error,
)
from core.errors import InvalidOrderNumber, VerificationLocked

HANDOFF_REASONS = {
    "customer_request": "El cliente pide hablar con una persona",
    "complaint": "Queja o enfado del cliente",
    "fallback": "El asistente no entendió dos veces seguidas",
    "verification_failed": "No pudo verificar el pedido tras varios intentos",
    "order_overdue": "Pedido retrasado: pasó la fecha de entrega",
    "order_late_not_shipped": "Pedido sin enviar y ya pasada la fecha de entrega",
    "refund_late": "Reembolso retrasado: pasó la fecha en que debía llegar",
    "delivered_not_received": "Marcado como entregado pero el cliente no lo recibió",
    "damaged_or_wrong_item": "Producto dañado, equivocado o incompleto",
    "payment_problem": "Problema con el pago",
    "return_ineligible": "Devolución no admitida por las reglas",
    "address_change_after_shipping": "Cambio de dirección con el pedido ya enviado",
    "address_change_zone": "Cambio de dirección a otro país o zona de envío (otro precio y plazo)",
    "invoice_fiscal_data": "Factura a nombre de una empresa o con otros datos fiscales",
    "store_unavailable": "El sistema de pedidos no respondía",
    "frustration": "Cliente muy molesto (detectado en sus mensajes)",
}
RECENT_INTENTS = 5


def recent_intents(tracker: Tracker, limit: int = RECENT_INTENTS) -> List[Dict[str, Any]]:
    """The last user intents with confidence, newest first (for the case card)."""
    found: List[Dict[str, Any]] = []
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent") or {}
        if intent.get("name"):
            found.append({"name": intent["name"], "confidence": round(float(intent.get("confidence") or 0.0), 3)})
        if len(found) >= limit:
            break
    return found


def frustration_of(tracker: Tracker) -> Dict[str, Any]:
    """The frustration of the latest message (score, signals) and the highest
    of the conversation, from the scores bot/nlu.py put in the parse data."""
    scores: List[Dict[str, Any]] = [
        (event.get("parse_data") or {}).get("frustration") or {}
        for event in tracker.events if event.get("event") == "user"]
    latest = scores[-1] if scores else {}
    highest = max((float(s.get("score") or 0.0) for s in scores), default=0.0)
    return {"score": round(float(latest.get("score") or 0.0), 3), "max": round(highest, 3),
            "signals": list(latest.get("signals") or [])}


def handoff_payload(
    tracker: Tracker, reason: str, details: Optional[Dict[str, Any]] = None
) -> Dict[str, Any]:
    intents = recent_intents(tracker)
    entities: Dict[str, Any] = {}
    for name in ("order_id", "email"):
        if tracker.get_slot(name):
            entities[name] = tracker.get_slot(name)
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") in ("order_id", "email"):
            entities[entity["entity"]] = entity.get("value")
    customer = None
    if is_verified(tracker):
        customer = {
            "id": tracker.get_slot("customer_id"),
            "name": tracker.get_slot("customer_name"),
            "email": tracker.get_slot("verified_email"),
            "verified_order_id": tracker.get_slot("verified_order_id"),
        }
    return {
        "handoff": {
            "reason": reason,
            "reason_text": HANDOFF_REASONS.get(reason, reason),
            "last_intent": intents[0]["name"] if intents else None,
            "intents": intents,
            "entities": entities,
            "customer": customer,
            "details": details or {},
            "frustration": frustration_of(tracker),
        }
    }


def _said_before(tracker: Tracker) -> bool:
    """Whether the shopper sent anything before the latest message in this
    session (a button, a command or a shared contact counts)."""
    said = 0
    for event in tracker.events:
        if event.get("event") == "session_started":
            said = 0
        elif event.get("event") == "user":
            said += 1
    return said > 1


def hand_over(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: str,
    details: Optional[Dict[str, Any]] = None,
    announce: bool = True,
) -> List[EventType]:
    """Announce (optionally), emit the structured handoff message and close
    any form. Returns the events to return."""
    if announce:  # "todo lo que hemos hablado" only when something was said before this message
        dispatcher.utter_message(response="utter_handoff" if _said_before(tracker) else "utter_handoff_first")
    dispatcher.utter_message(json_message=handoff_payload(tracker, reason, details))
    return [
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        *reset_task_slots(),
    ]


def open_case(tracker: Tracker) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The reason and details of the issue the shopper is reporting right now
    (a payment problem or a damaged item: its form is active), as the form's
    submit would hand it over; None outside those forms."""
    from actions.issues import REASON_BY_FORM, described, problem_of  # issues imports this module

    form = (tracker.active_loop or {}).get("name")
    if form not in REASON_BY_FORM:
        return None
    return REASON_BY_FORM[form], {
        "description": tracker.get_slot("issue_description") or described(tracker, form),
        "problem": problem_of(tracker, form).kind,
        "order_id": tracker.get_slot("verified_order_id") if is_verified(tracker) else None,
        "verified": is_verified(tracker),
        "store_error": bool(tracker.get_slot("store_error")),
    }


class ActionHandoff(Action):
    """request_human / complaint, or a button that offers a person with a
    ``handoff_reason`` entity in its payload. Asked for a person while
    reporting a payment problem or a damaged item ("/agente" before the form
    is done), the case keeps that specific reason and what was said of it
    (it became a generic "Pide hablar con una persona"); a button's own
    specific reason still wins."""

    def name(self) -> Text:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        reason = "complaint" if intent == "complaint" else "customer_request"
        details: Optional[Dict[str, Any]] = None
        case = open_case(tracker)
        if case is not None:
            reason, details = case
        requested = next(tracker.get_latest_entity_values("handoff_reason"), None)
        if requested in HANDOFF_REASONS and (case is None or requested not in ("customer_request", reason)):
            reason, details = requested, None
        return hand_over(dispatcher, tracker, reason, details)


class ActionFallback(Action):
    """First misunderstanding: ask to rephrase. Second in a row: a person."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        user_intents = [
            ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            for event in tracker.events
            if event.get("event") == "user"
        ]
        if is_locked(tracker) and any(parse_correction((tracker.latest_message or {}).get("text"))):
            # Another try after the lock: the lock, plainly, with the offer of a person.
            utter_error(dispatcher, VerificationLocked(max_attempts=MAX_ATTEMPTS))
            return []
        if refused_address_follows(tracker):
            # «Calle Mayor 5, Madrid» right after «ya no podemos cambiar la
            # dirección»: the address is read, and why it cannot be used here
            dispatcher.utter_message(response="utter_address_after_shipping_noted",
                                     order_id=tracker.get_slot("verified_order_id") or "")
            return []
        order_id = order_named(tracker)
        if order_id:
            # A bare "600828" or "y el otro 989057?" with no form asking: what to do with it.
            dispatcher.utter_message(response="utter_order_what_to_do", order_id=order_id,
                                     buttons=order_task_buttons(order_id, last_task(tracker)))
            return []
        if len(user_intents) >= 2 and user_intents[-2] == "nlu_fallback":
            return hand_over(dispatcher, tracker, "fallback")
        dispatcher.utter_message(response="utter_default")
        return []


# Answers after which an address typed anyway is for an order that has left.
ADDRESS_REFUSALS = ("utter_address_change_not_possible", "utter_address_after_shipping_noted")


def refused_address_follows(tracker: Tracker) -> bool:
    """The bot's previous turn refused an address change (the order has left)
    and this message reads as an address or a part of one."""
    from core.addresses import looks_like_answer

    turn = previous_bot_turn(tracker)
    if not turn or response_of(turn[-1]) not in ADDRESS_REFUSALS or not tracker.get_slot("verified_order_id"):
        return False
    text = str((tracker.latest_message or {}).get("text") or "")
    return any(looks_like_answer(text, part, "España") for part in ("correction", "street", "postal_code"))


# The tasks a bare order number may be for, as the buttons offer them (intent, title).
ORDER_TASKS = (
    ("order_status", "Dónde está"),
    ("order_cancel", "Cancelarlo"),
    ("change_address", "Cambiar la dirección"),
    ("return_request", "Devolverlo o cambiarlo"),
    ("invoice_request", "La factura"),
)
TASK_OF_FORM = {form: intent for intent, form in TASK_FORMS.items() if intent in dict(ORDER_TASKS)}


def order_named(tracker: Tracker) -> Optional[str]:
    """The order number the latest message gives (an ``inform``), if any."""
    message = tracker.latest_message or {}
    if (message.get("intent") or {}).get("name") != "inform":
        return None
    found = next((e.get("value") for e in message.get("entities") or [] if e.get("entity") == "order_id"), None)
    try:
        return parse_order_id(found) if found else None
    except InvalidOrderNumber:
        return None


def last_task(tracker: Tracker) -> Optional[str]:
    """The intent of the last task form this conversation ran ("y el otro…" is likely the same task)."""
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") in TASK_OF_FORM:
            return TASK_OF_FORM[str(event["name"])]
    return None


def order_task_buttons(order_id: str, first: Optional[str]) -> List[Dict[str, str]]:
    tasks = sorted(ORDER_TASKS, key=lambda task: task[0] != first)  # the last task first, the rest in order
    return [{"title": title, "payload": f'/{intent}{{"order_id":"{order_id}"}}'} for intent, title in tasks] + [
        {"title": "Hablar con una persona", "payload": '/request_human{"handoff_reason":"customer_request"}'}]
