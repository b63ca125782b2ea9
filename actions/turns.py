"""What the tracker's events say about the current turn and form run, and
when a message inside a form is a new request (plain functions on the
events rasa_sdk sends; no Rasa imports beyond the Tracker type).

Why: rasa_sdk receives every event, the undone ones too. The frustration
apology reverts itself (``ActionReverted``), so its bot message is still in
the list, and a check "has the bot spoken since the shopper's message?"
must skip what was reverted, as Rasa's own ``applied_events`` does.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker

# The key under which Rasa's bot events name their response in the metadata.
RESPONSE_NAME_KEY = "utter" + "_action"


def response_of(bot_event: Dict[str, Any]) -> Optional[str]:
    """The response a bot event uttered ("utter_goodbye"), or None (text sent by an action)."""
    return (bot_event.get("metadata") or {}).get(RESPONSE_NAME_KEY)

# The form each task intent starts (data/rules): a request for one of them
# inside another form switches to it.
TASK_FORMS: Dict[str, str] = {
    "order_status": "order_status_form",
    "order_not_received": "not_received_form",
    "order_cancel": "cancel_form",
    "change_address": "address_form",
    "return_request": "return_form",
    "refund_status": "refund_form",
    "invoice_request": "invoice_form",
    "damaged_or_wrong_item": "damaged_form",
    "payment_problem": "payment_form",
}
# "Good confidence" for a new request inside a form (the NLU's fallback is 0.3).
SWITCH_CONFIDENCE = 0.6
_WORDS = re.compile(r"[^\W\d_]{3,}")


def applied_events(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The events without those undone: a reverted action (and what it said)
    and a rewound user message, as Rasa applies them."""
    applied: List[Dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "undo":  # ActionReverted
            while applied and applied.pop().get("event") != "action":
                pass
        elif kind == "rewind":
            while applied and applied.pop().get("event") != "user":
                pass
        elif kind in ("restart", "session_started"):
            applied = []
        else:
            applied.append(event)
    return applied


def fresh_reply(tracker: Tracker, form: str) -> bool:
    """True when ``form`` runs right after the shopper's reply (not when it
    comes back after answering a question in the middle). A reverted
    apology in between does not count."""
    steps = {form, f"validate_{form}", "action_listen", "action_extract_slots"}
    for event in reversed(applied_events(list(tracker.events))):
        kind = event.get("event")
        if kind == "user":
            return True
        if kind in ("bot", "action_execution_rejected"):
            return False
        if kind == "action" and event.get("name") not in steps:
            return False
    return False


def active_before_message(tracker: Tracker, form: str) -> bool:
    """``form`` was already running when the shopper's latest message came
    (False on the turn that starts it, or starts it again)."""
    events = applied_events(list(tracker.events))
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if not users:
        return False
    loops = [e for e in events[:users[-1]] if e.get("event") == "active_loop"]
    return bool(loops) and loops[-1].get("name") == form


def events_of_form(tracker: Tracker, form: str) -> List[Dict[str, Any]]:
    """The events of the current run of ``form``, from the shopper's message
    that started it. Without an activation in the events (the form's very
    first call), only the latest message."""
    events = list(tracker.events)
    start = None
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if event.get("event") == "active_loop" and event.get("name") == form:
            start = index
        elif start is not None and event.get("event") == "active_loop" and event.get("name") != form:
            break
    if start is None:
        latest = tracker.latest_message or {}
        return [{"event": "user", "text": latest.get("text") or "", "parse_data": latest}]
    trigger = next((i for i in range(start - 1, -1, -1) if events[i].get("event") == "user"), start)
    return events[trigger:]


def requested_form(tracker: Tracker) -> Optional[str]:
    """The form the latest message asks for: a task intent with good
    confidence and words of its own (a bare number is an answer)."""
    message = tracker.latest_message or {}
    intent = message.get("intent") or {}
    form = TASK_FORMS.get(str(intent.get("name") or ""))
    if form is None or float(intent.get("confidence") or 0.0) < SWITCH_CONFIDENCE:
        return None
    text = str(message.get("text") or "")
    return form if text.startswith("/") or _WORDS.search(text) else None


__all__ = [
    "SWITCH_CONFIDENCE", "TASK_FORMS", "active_before_message", "applied_events", "events_of_form",
    "fresh_reply", "last_buttons", "previous_bot_turn", "requested_form",
]


def previous_bot_turn(tracker: Tracker) -> List[Dict[str, Any]]:
    """The bot messages between the shopper's previous message and this one."""
    turn: List[Dict[str, Any]] = []
    seen_latest_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_latest_user:
                break
            seen_latest_user = True
        elif event.get("event") == "bot" and seen_latest_user and (event.get("text") or (event.get("data") or {}).get("buttons")):
            turn.insert(0, event)  # silent messages for the bridge (a verified customer) are not the bot's words
    return turn


def last_buttons(turn: List[Dict[str, Any]]) -> List[str]:
    """The button payloads of the last message of the previous turn that had any."""
    for event in reversed(turn):
        buttons = ((event.get("data") or {}).get("buttons")) or []
        if buttons:
            return [str(b.get("payload") or "") for b in buttons]
    return []
