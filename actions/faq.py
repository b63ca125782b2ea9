"""FAQ answers that need a look at the message: several FAQ questions in one
message ("¿cuánto tarda el envío y cuánto cuesta?") get each answer, in the
order asked (bot/nlu.py finds the questions, parse-data ``questions``;
bot/policies.py calls this action for them); a shipping question that names
where to ("¿cuánto cuesta el envío a Sevilla?") gets that place's price and
time (actions/shipping.py); an out-of-scope question gets
the honest answer worded for its kind (actions/off_topic.py)."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Pattern, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.off_topic import BUSINESS, GENERAL, LAUGHTER, OTHER_COMPANY, PHYSICAL_STORE, PRODUCT, off_topic_kind
from actions.shipping import RESPONSES as SHIPPING_RESPONSES
from actions.shipping import SHIPPING_KEYS, destination_in, destination_variables
from core.policy import join_es, load_policy

# "¿puedo pagar a plazos?": the answer to that comes before the list of methods.
INSTALMENTS = re.compile(r"\b(plazos?|cuotas?|financia\w*|aplaza\w*|meses sin intereses|fraccion\w*|klarna|"
                         r"pago aplazado|a meses)\b", re.I)
# "¿se puede pagar contra reembolso?", "¿en efectivo?": methods the store does not take.
CASH = re.compile(r"\b(contra ?reembolso|contrareembolso|en efectivo|efectivo|en mano|al recibir\w*|"
                  r"cuando (me )?llegue|al repartidor|cash)\b", re.I)
# "¿tienen descuento para estudiantes?": discounts for a group of people, not a code.
GROUPS = re.compile(r"\b(estudiantes?|universitari\w*|jubilad\w*|pensionistas?|carn[eé] joven|profesor\w*|"
                    r"docentes?|familias? numerosas?|colectivos?|militar\w*|desemplead\w*|parados?|"
                    r"discapacidad|mayores|j[oó]venes|sanitari\w*)\b", re.I)
# "¿cuánto cuesta el envío exprés?": the express price and time together.
EXPRESS = re.compile(r"\b(expr[eé]s+|urgente|24 ?h(oras)?|en un d[ií]a|para mañana|al d[ií]a siguiente)\b", re.I)
Refinement = Tuple[Pattern[str], str]
# A general FAQ answer covers these in passing or not at all: when the words
# ask about one of them, its own answer is given instead (the "no" first).
REFINEMENTS: Dict[str, Tuple[Refinement, ...]] = {
    "faq/payment_methods": ((INSTALMENTS, "utter_payment_instalments"), (CASH, "utter_payment_cash_on_delivery")),
    "faq/discount_codes": ((GROUPS, "utter_discount_groups"),),
    "faq/shipping_cost": ((EXPRESS, "utter_shipping_express"),),
    "faq/shipping_time": ((EXPRESS, "utter_shipping_express"),),
}
MAX_ANSWERS = 3  # more than this in one message reads as a wall of text
OUT_OF_SCOPE_RESPONSES = {PRODUCT: "utter_out_of_scope_product", BUSINESS: "utter_out_of_scope_business",
                          GENERAL: "utter_out_of_scope", LAUGHTER: "utter_laughter"}


class ActionAnswerQuestions(Action):
    def name(self) -> Text:
        return "action_answer_questions"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        responses = (domain or {}).get("responses") or {}
        message = tracker.latest_message or {}
        asked = [str(k) for k in message.get("questions") or []] or [selected_faq_key(message)]
        known = [key for key in asked if f"utter_{key}" in responses][:MAX_ANSWERS]
        destination = destination_in(str(message.get("text") or "")) if set(known) & set(SHIPPING_KEYS) else None
        said_destination = False
        said: set = set()
        for key in known:
            if destination is not None and key in SHIPPING_KEYS:
                # "¿cuánto cuesta y cuánto tarda el envío a Sevilla?": one answer for that place says both
                if not said_destination:
                    dispatcher.utter_message(response=SHIPPING_RESPONSES[destination.zone],
                                             **destination_variables(destination, load_policy().raw["customs_text"]))
                    said_destination = True
                continue
            response = refined_response(key, str(message.get("text") or "")) or f"utter_{key}"
            if response in said:  # "¿cuánto cuesta y cuánto tarda el exprés?": one answer says both
                continue
            said.add(response)
            dispatcher.utter_message(response=response, **refinement_variables(response, str(message.get("text") or "")))
        if not known:  # keys the domain lacks (a model older than the domain): ask to rephrase
            dispatcher.utter_message(response="utter_default")
        return []


def words_matter(key: str, text: str) -> bool:
    """Whether this action must answer a one-question FAQ (bot/policies.py
    asks): its words name a destination or one thing of ``REFINEMENTS``.
    Otherwise the key's general answer is the whole answer."""
    if refined_response(key, text):
        return True
    return key in SHIPPING_KEYS and destination_in(text) is not None


def refined_response(key: str, text: str) -> Optional[str]:
    """The answer for the one thing the words ask about within an FAQ key
    (``REFINEMENTS``; then «¿puedo pagar con bizum?», a method the store
    takes: «Sí, …» first), or None for the key's general answer."""
    refined = next((response for words, response in REFINEMENTS.get(key, ()) if words.search(text)), None)
    if refined is None and key == "faq/payment_methods" and load_policy().payment_method_named(text):
        return "utter_payment_method_accepted"
    return refined


def refinement_variables(response: str, text: str = "") -> Dict[str, Any]:
    """Policy texts the refined answers use that are not session slots."""
    policy = load_policy()
    if response == "utter_payment_method_accepted":
        named, others = policy.payment_method_named(text) or ("", [])
        return {"payment_method": named,
                "other_payment_methods_text": f" También aceptamos {join_es(others)}." if others else ""}
    if response == "utter_payment_cash_on_delivery":
        return {"cash_on_delivery_text": policy.raw["cash_on_delivery_text"]}
    if response == "utter_discount_groups":
        return {"group_discounts_text": policy.raw["group_discounts_text"]}
    if response == "utter_shipping_express":
        days = int(policy.raw["express_delivery_days"])
        return {"express_days_text": f"{days} día laborable" if days == 1 else f"{days} días laborables"}
    return {}


def selected_faq_key(message: dict) -> str:
    """The ResponseSelector's answer to a one-question FAQ ('faq/shipping_cost');
    for a button ('/faq{"faq_key":"return_policy"}', no NLU runs) the key it names."""
    selectors = message.get("response_selector") or {}
    chosen = selectors.get("faq") or selectors.get("default") or {}
    key = str((chosen.get("response") or {}).get("intent_response_key") or "")
    if key:
        return key
    named = next((str(e.get("value")) for e in message.get("entities") or [] if e.get("entity") == "faq_key"), "")
    return f"faq/{named}" if re.fullmatch(r"[a-z_]{1,40}", named) else ""


class ActionOutOfScope(Action):
    """The honest "no lo sé", worded for the kind of question
    (actions/off_topic.py): the store's own fact, a person for products,
    "ask them" for another company, the contact email for business, and no
    offer of a person where none could help."""

    def name(self) -> Text:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        message = tracker.latest_message or {}
        companies = [str(c) for c in ((message.get("mentions") or {}).get("other_company") or [])]
        kind = off_topic_kind(str(message.get("text") or ""), companies)
        if kind == PHYSICAL_STORE:
            response = "utter_out_of_scope_online_only" if load_policy().online_only else "utter_out_of_scope_product"
            dispatcher.utter_message(response=response)
        elif kind == OTHER_COMPANY:
            dispatcher.utter_message(response="utter_out_of_scope_other_company", company=companies[0])
        else:
            dispatcher.utter_message(response=OUT_OF_SCOPE_RESPONSES.get(kind, "utter_out_of_scope"))
        return []
