"""A bare yes or no outside any form: what did the shopper answer?

Why an action: the same "no" means "goodbye" after "¿Algo más?", "no thanks"
after an offer with buttons, and nothing at all after a finished step (an old
"No, mantenerlo" button of a cancelled order). Only the bot's previous turn
tells which, so the answer is read from it; a yes/no that answers nothing
never closes the conversation and never acts.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.chitchat import bot_spoke_this_session
from actions.handoff import HANDOFF_REASONS, hand_over
from actions.shopper_words import acknowledges, lacks_order_number
from actions.turns import last_buttons, previous_bot_turn, response_of

# An offer's "yes" button that starts a flow: the form that flow's rule starts.
FORM_BY_INTENT = {
    "order_status": "order_status_form",
    "order_not_received": "not_received_form",
    "order_cancel": "cancel_form",
    "change_address": "address_form",
    "return_request": "return_form",
    "refund_status": "refund_form",
    "invoice_request": "invoice_form",
}
NO_PAYLOADS = ("/deny",)
# The bot's "anything else?" turns after which a thumbs-up means "no, thanks" (the shopper is done).
CLOSING_RESPONSES = ("utter_thank", "utter_anything_else", "utter_goodbye")
# A message that starts as an answer ("no, gracias, ¿vale?", "sí, claro, ¿cuándo llega?")
# is one, whatever follows.
YES_NO_OPENING = re.compile(r"^\W*(s[ií]+|no+|vale|ok|claro|de acuerdo|nop|gracias)\b", re.I)


def said_goodbye(turn: List[Dict[str, Any]]) -> bool:
    """The bot's previous turn ended the conversation ("¡Hasta pronto!")."""
    return bool(turn) and response_of(turn[-1]) == "utter_goodbye"


def offer_yes(payloads: List[str]) -> Optional[str]:
    """The payload a typed "sí" stands for: the one button besides "No,
    gracias" (None when there are several, or it is a plain /affirm)."""
    yes = [p for p in payloads if p not in NO_PAYLOADS]
    if len(yes) == 1 and yes[0] != "/affirm":
        return yes[0]
    return None


def asked_open_question(turn: List[Dict[str, Any]]) -> bool:
    """The previous turn ended with a question without buttons ("¿Algo más?")."""
    texts = [str(e.get("text") or "").strip() for e in turn if e.get("text")]
    return bool(texts) and texts[-1].endswith("?") and not any(
        (e.get("data") or {}).get("buttons") for e in turn
    )


def is_question_of_its_own(text: str) -> bool:
    """A question with content that merely ends in a tag ("y eso ya pasó,
    ¿no?", "lo enviasteis ayer, ¿verdad?"): read as deny/affirm by the model,
    but it answers no offer. A bare "¿no?" or "sí, ¿verdad?" is still a yes/no."""
    if "?" not in text:
        return False
    words = re.findall(r"[^\W\d_]+", text.lower())
    return len(words) >= 4 and not YES_NO_OPENING.match(text)


def split_payload(payload: str) -> tuple[str, Dict[str, Any]]:
    """'/request_human{"handoff_reason":"x"}' -> ('request_human', {...})."""
    body = payload.lstrip("/")
    name, _, entities = body.partition("{")
    try:
        values = json.loads("{" + entities) if entities else {}
    except json.JSONDecodeError:
        values = {}
    return name, values if isinstance(values, dict) else {}


class ActionYesNoOutOfContext(Action):
    """affirm/deny with no form active (rules in data/rules/chitchat.yml)."""

    def name(self) -> Text:
        return "action_yes_no_out_of_context"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        message = tracker.latest_message or {}
        yes = (message.get("intent") or {}).get("name") == "affirm"
        # "/deny", "/affirm": a button was pressed (typed words never start so).
        pressed = str(message.get("text") or "").lstrip().startswith("/")
        turn = previous_bot_turn(tracker)
        if not pressed and not bot_spoke_this_session(tracker):
            # "ok" as the first message answers nothing: the introduction, not "that step is over".
            dispatcher.utter_message(response="utter_greet")
            return []
        if not pressed and lacks_order_number(str(message.get("text") or "")):
            # "no sé el número" is no "no" to the offer: where to find it, and a person
            dispatcher.utter_message(response="utter_order_number_help")
            return []
        if not pressed and said_goodbye(turn):
            # "👍", "vale", "no" after "¡Hasta pronto!": the shopper closes too; no new question.
            dispatcher.utter_message(response="utter_closing_ack")
            return []
        if yes and not pressed and not any(ch.isalpha() for ch in str(message.get("text") or "")):
            # "👍", "👌": an acknowledgement, not a "yes" to an offer (never calls a person);
            # after "¡De nada! ¿Algo más?" it closes instead of asking the same again.
            closing = bool(turn) and response_of(turn[-1]) in CLOSING_RESPONSES
            dispatcher.utter_message(response="utter_closing_ack" if closing else "utter_anything_else")
            return []
        if not pressed and is_question_of_its_own(str(message.get("text") or "")):
            # "y eso ya pasó, no?": a question that ends in "no?", not a no to anything
            dispatcher.utter_message(response="utter_default")
            return []
        buttons = last_buttons(turn)
        if pressed and not buttons:
            # A button of an earlier, finished step: it does nothing.
            dispatcher.utter_message(response="utter_step_over")
            return []
        if buttons:
            # The previous turn offered something (an offer, a person, a menu).
            offer = offer_yes(buttons) if yes else None
            if offer:
                return self.accept(offer, dispatcher, tracker)
            dispatcher.utter_message(response="utter_ask_what_else" if yes else "utter_offer_declined")
            return []
        if asked_open_question(turn):
            dispatcher.utter_message(response="utter_ask_what_else" if yes else "utter_goodbye")
            return []
        if not pressed and acknowledges(str(message.get("text") or "")):
            # "ok", "vale, gracias" after an answer: taken in, nothing to undo or confirm
            dispatcher.utter_message(response="utter_anything_else")
            return []
        dispatcher.utter_message(response="utter_step_over")
        return []

    def accept(self, offer: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
        """A typed "sí" to an offer does what its "yes" button does."""
        name, values = split_payload(offer)
        if name == "request_human":
            reason = values.get("handoff_reason")
            return hand_over(dispatcher, tracker, reason if reason in HANDOFF_REASONS else "customer_request")
        if name.startswith("faq/"):
            dispatcher.utter_message(response=f"utter_{name}")
            return []
        if name == "faq" and re.fullmatch(r"[a-z_]{1,40}", str(values.get("faq_key") or "")):
            dispatcher.utter_message(response=f"utter_faq/{values['faq_key']}")
            return []
        if name in FORM_BY_INTENT:
            return [FollowupAction(FORM_BY_INTENT[name])]
        dispatcher.utter_message(response="utter_anything_else")
        return []
