"""Changing the delivery address: only before shipping (policy
``address_change_statuses``), with street, postal code and city checked
(core/addresses: the rules, without Rasa), read back part by part, and
confirmed before the store is changed (atomically re-checking the status).

The form reads the shopper's raw replies (custom slot mappings): any reply
may give any part, or the whole address; nothing given is asked again."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import turns
from actions.orders import order_variables
from actions.shopper_words import acknowledges, drops_the_change
from actions.turns import last_buttons, previous_bot_turn
from actions.verification import (
    OrderFormValidation,
    current_order,
    interpret_yes_no,
    is_verified,
    utter_error,
    verified_order,
    wants_to_stop,
)
from core.addresses import AddressDraft, check_draft, looks_like_answer, merge_answer

# re-exported: the per-part checks (tests and older callers import them from here)
from core.addresses.draft import normalize_city, normalize_street  # noqa: F401
from core.addresses.parser import address_in_request
from core.addresses.places import fold
from core.addresses.postcodes import normalize_postal_code  # noqa: F401
from core.errors import StoreDown
from core.policy import load_policy
from core.store import Address, Order, StoreUnavailable, shared_store
from core.store.errors import OrderStateChanged

# Intents that may interrupt the form (a question, a person, a goodbye): a
# reply classified so is still taken as the answer when it reads as one
# (a postal code, a known town, a street with its number; for the town, a
# town-shaped answer), so "Sevilla" taken for out_of_scope does not matter.
INTERRUPTIONS = frozenset({
    "faq", "request_human", "complaint", "greet", "goodbye", "thank", "bot_challenge", "help",
    "out_of_scope", "nlu_fallback", "change_address", "order_status", "order_not_received", "order_cancel",
    "return_request", "refund_status", "invoice_request", "damaged_or_wrong_item", "payment_problem",
})
ADDRESS_SLOTS = {"new_street": "street", "new_postal_code": "postal_code", "new_city": "city"}
ADDRESS_STEPS = frozenset(ADDRESS_SLOTS) | {"address_confirmed"}
# What the shopper may choose at "¿Qué dato corrijo?" (button entity or words).
FIX_PARTS = {"street": "new_street", "postal_code": "new_postal_code", "city": "new_city"}
FIX_QUESTIONS = {"street": "utter_ask_fixed_street", "postal_code": "utter_ask_fixed_postal_code",
                 "city": "utter_ask_fixed_city"}
FIX_WORDS = (
    ("postal_code", re.compile(r"\b(c[oó]digo|postal|cp|c\.p\.)", re.I)),
    ("city", re.compile(r"\b(localidad|ciudad|poblaci[oó]n|pueblo|municipio)\b", re.I)),
    ("street", re.compile(r"\b(calle|n[uú]mero|piso|puerta|portal|direcci[oó]n)\b", re.I)),
)


def address_text(street: str, postal_code: str, city: str, country: str, province: str = "") -> str:
    """The read-back: each part on its line, so a wrong one shows."""
    lines = [f"Calle y número: {street}", f"Código postal: {postal_code}", f"Localidad: {city}"]
    if province and province != city:
        lines.append(f"Provincia: {province}")
    lines.append(f"País: {country}")
    return "\n".join(lines)


def address_line(street: str, postal_code: str, city: str, country: str, province: str = "") -> str:
    """The stored address as it goes on a parcel (the answer once changed)."""
    place = f"{postal_code} {city}" + (f" ({province})" if province and province != city else "")
    return f"{street}\n{place}, {country}"


def fresh_reply(tracker: Tracker) -> bool:
    """True when the form runs right after the shopper's reply (a reverted
    frustration apology in between does not count)."""
    return turns.fresh_reply(tracker, "address_form")


def says_only_yes(text: str) -> bool:
    """«sí», «vale», «ok, claro»: a yes and nothing else (no digits, no place)."""
    return acknowledges(text) or bool(re.fullmatch(r"\W*(s[ií]+|claro|por supuesto|bueno)(\W+(s[ií]+|claro|vale|ok))*\W*",
                                                    text or "", re.I))


class ValidateAddressForm(OrderFormValidation):
    """Reads the raw text of each reply to the address questions: one
    message may give any part, or all of them (core/addresses)."""

    form = "address_form"

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        if order.status in self.policy.address_change_statuses:
            return ["new_street", "new_postal_code", "new_city", "address_confirmed"]
        return []

    async def _order_address(self, tracker: Tracker) -> Address:
        order = await current_order(tracker)
        return order.shipping_address if order else Address(street="", postal_code="", city="")

    def _reply_for(self, slot: str, tracker: Tracker, country: str) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != slot or not fresh_reply(tracker):
            return {}
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        if not text.strip() or text.startswith("/"):
            return {}
        intent = (message.get("intent") or {}).get("name")
        if intent in INTERRUPTIONS and not looks_like_answer(text, ADDRESS_SLOTS[slot], country):
            return {}
        return {slot: text}

    async def extract_new_street(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._reply_for("new_street", tracker, (await self._order_address(tracker)).country)

    async def extract_new_postal_code(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._reply_for("new_postal_code", tracker, (await self._order_address(tracker)).country)

    async def extract_new_city(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        return self._reply_for("new_city", tracker, (await self._order_address(tracker)).country)

    async def _merge(self, slot: str, value: Any, tracker: Tracker, correction: bool = False) -> Dict[Text, Any]:
        """The reply merged into the parts given before (other slots of the
        form keep what they had unless the reply gives them)."""
        if not correction and wants_to_stop(tracker):
            return {slot: None, "form_stopped": True}
        if not correction and slot in ADDRESS_SLOTS and says_only_yes(str(value or "")):
            # «sí» to «¿Me das otro código postal…, o te paso con una persona?»
            # is no address part: how to go on, both ways (or the question again)
            offered = any("request_human" in p for p in last_buttons(previous_bot_turn(tracker)))
            problem = {"response": "utter_address_yes_which", "variables": {}} if offered else None
            return {slot: None, "address_problem": problem}
        current = await self._order_address(tracker)
        before = AddressDraft(**{
            part: (tracker.get_slot(name) if name != slot else None)
            for name, part in (("new_street", "street"), ("new_postal_code", "postal_code"),
                               ("new_city", "city"), ("new_province", "province"))
        })
        text = str(value or "")
        found = address_in_request(text)
        if found and fold(text).find(fold(found)[:12]) > 0:
            text = found  # "no, quiero cambiarla a Avda. Sol 3, …": only the address is read
        check = merge_answer(before, text, ADDRESS_SLOTS.get(slot, "correction"), current.country or "España",
                             current.postal_code, current.province or current.city)
        slots: Dict[Text, Any] = dict(check.draft.as_slots())
        slots["address_problem"] = {"response": check.response, "variables": check.variables} if check.response else None
        return slots

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        restored: List[EventType] = []
        verified = tracker.get_slot("verified_order_id")
        requested = tracker.get_slot("requested_slot")
        text = str((tracker.latest_message or {}).get("text") or "")
        if (verified and requested in ADDRESS_STEPS and tracker.get_slot("order_id") != verified
                and looks_like_answer(text, ADDRESS_SLOTS.get(requested, "correction"),
                                      (await self._order_address(tracker)).country)):
            # the entity extractor took six digits of the address (a Colombian
            # postal code) for an order number: the verified order stays
            tracker.slots["order_id"] = verified
            restored = [SlotSet("order_id", verified)]
        given = tracker.get_slot("address_given")
        if fresh_reply(tracker) and (not is_verified(tracker) or not turns.active_before_message(tracker, self.form)):
            # "cambiad la dirección del pedido 845216 a calle Sol 3, 29001 Málaga":
            # kept until the order is verified (or at once when it already is),
            # then not asked again
            found = address_in_request(text)
            if found:
                given = found
                restored.append(SlotSet("address_given", found))
        events = restored + await super().run(dispatcher, tracker, domain)
        if given and is_verified(tracker) and tracker.get_slot("new_street") is None:
            order = await current_order(tracker)
            if order is not None and order.status in self.policy.address_change_statuses:
                # merged as a whole ("address_given" expects no one part): a part
                # it lacks ("28013 Madrid" has no street) is asked plainly after
                slots = await self._merge("address_given", given, tracker)
                events += [SlotSet(name, value) for name, value in slots.items()]
                events.append(SlotSet("address_given", None))
        return events

    async def answers_question(self, tracker: Tracker) -> bool:
        """An address part (or the whole address) answers the address
        questions whatever the intent; the request itself again ("cambiar
        dirección pedido …") is a new run, which reads the address it holds."""
        if await super().answers_question(tracker):
            return True
        requested = tracker.get_slot("requested_slot")
        if requested not in ADDRESS_STEPS or turns.requested_form(tracker) == self.form:
            return False
        text = str((tracker.latest_message or {}).get("text") or "")
        country = (await self._order_address(tracker)).country or "España"
        return looks_like_answer(text, ADDRESS_SLOTS.get(requested, "correction"), country)

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Six digits inside an address (a Colombian postal code, a house
        number) are not another order: the verified one stays."""
        verified = tracker.get_slot("verified_order_id")
        if verified and tracker.get_slot("order_id") == verified and tracker.get_slot("requested_slot") in ADDRESS_STEPS:
            return {"order_id": verified}  # restored by run()
        return await super().validate_order_id(value, dispatcher, tracker, domain)

    async def validate_new_street(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._merge("new_street", value, tracker)

    async def validate_new_postal_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._merge("new_postal_code", value, tracker)

    async def validate_new_city(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return await self._merge("new_city", value, tracker)

    async def extract_address_confirmed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """After "¿Qué dato corrijo?" the reply ("la calle", a button, a
        corrected part) is the answer whatever the intent."""
        if tracker.get_slot("requested_slot") != "address_confirmed" or not tracker.get_slot("address_fix"):
            return {}
        text = str((tracker.latest_message or {}).get("text") or "")
        return {"address_confirmed": text} if text.strip() and fresh_reply(tracker) else {}

    async def validate_address_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Yes to the read-back changes it; a correction instead ("no, el
        código postal es 28014", a whole new address) is merged and read back
        again; a plain no asks which part to correct, and the part chosen is
        asked again. Only "déjalo" / "no quiero cambiarla" ends it unchanged."""
        text = str(value or "")
        if drops_the_change(text):
            return {"address_confirmed": False, "address_fix": None}
        part = self._part_to_fix(text, tracker)
        if part:
            return {"address_confirmed": None, "address_fix": None, FIX_PARTS[part]: None,
                    "address_problem": {"response": FIX_QUESTIONS[part], "variables": {}}}
        if text and not text.startswith("/"):
            country = (await self._order_address(tracker)).country or "España"
            if looks_like_answer(text, "correction", country):
                slots = await self._merge("address_confirmed", text, tracker, correction=True)
                return dict(slots, address_confirmed=None, address_fix=None)
        answer = interpret_yes_no(value, tracker)
        if tracker.get_slot("address_fix"):
            # a yes reads the address back again; anything else asks the part again
            return {"address_confirmed": None, "address_fix": None if answer else True}
        if answer is False:
            return {"address_confirmed": None, "address_fix": True}
        return {"address_confirmed": answer}

    @staticmethod
    def _part_to_fix(text: str, tracker: Tracker) -> Optional[str]:
        """The part named after "¿Qué dato corrijo?" (button or words)."""
        if not tracker.get_slot("address_fix"):
            return None
        chosen = next(tracker.get_latest_entity_values("address_part"), None)
        if chosen in FIX_PARTS:
            return str(chosen)
        if re.search(r"\d", text):
            return None  # a corrected part itself ("Calle Mayor 7"), merged instead
        return next((part for part, words in FIX_WORDS if words.search(text)), None)


class AskAddressPart(Action):
    """Asks for a missing part; when the last reply had a problem (a postal
    code of another province, another country, a different shipping zone,
    a part it could not read) says that instead, as the question."""

    slot = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        problem = tracker.get_slot("address_problem")
        if isinstance(problem, dict) and problem.get("response"):
            dispatcher.utter_message(response=problem["response"], **(problem.get("variables") or {}))
            return [SlotSet("address_problem", None)]
        dispatcher.utter_message(response=f"utter_ask_{self.slot}", order_id=tracker.get_slot("verified_order_id"))
        return []


class ActionAskNewStreet(AskAddressPart):
    slot = "new_street"


class ActionAskNewPostalCode(AskAddressPart):
    slot = "new_postal_code"


class ActionAskNewCity(AskAddressPart):
    slot = "new_city"


class ActionAskAddressConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_address_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        if tracker.get_slot("address_fix"):
            dispatcher.utter_message(response="utter_ask_address_fix")
            return []
        order = await current_order(tracker)
        country = order.shipping_address.country if order else "España"
        dispatcher.utter_message(
            response="utter_confirm_address",
            order_id=tracker.get_slot("verified_order_id"),
            new_address=address_text(
                tracker.get_slot("new_street"), tracker.get_slot("new_postal_code"),
                tracker.get_slot("new_city"), country, tracker.get_slot("new_province") or "",
            ),
        )
        return []


class ActionChangeAddress(Action):
    def name(self) -> Text:
        return "action_change_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        confirmed = tracker.get_slot("address_confirmed")
        street, postal_code, city, province = (
            tracker.get_slot(s) for s in ("new_street", "new_postal_code", "new_city", "new_province"))
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        policy = load_policy()
        variables = order_variables(order, policy, tracker)
        if order.status not in policy.address_change_statuses:
            response = (
                "utter_address_change_closed"
                if order.status in ("cancelled", "returned")
                else "utter_address_change_not_possible"
            )
            dispatcher.utter_message(response=response, **variables)
            return events
        if confirmed is not True or not (street and postal_code and city):
            dispatcher.utter_message(response="utter_address_not_changed", **variables)
            return events
        current = order.shipping_address
        # the same checks as while asking, on the values about to be stored
        check = check_draft(AddressDraft(street, postal_code, city, province), current.country,
                            current.postal_code, current.province or current.city)
        if check.response:
            dispatcher.utter_message(response="utter_address_not_changed", **variables)
            return events
        # no region table for the country (Chile): the same town keeps its province
        province = check.draft.province or (current.province if fold(current.city) == fold(city) else "")
        address = Address(street=street, postal_code=postal_code, city=city, province=province,
                          country=current.country)
        try:
            await shared_store().update_shipping_address(order.order_id, address, policy.address_change_statuses)
        except OrderStateChanged:
            fresh = await shared_store().get_order(order.order_id)
            dispatcher.utter_message(
                response="utter_address_change_not_possible", **order_variables(fresh or order, policy, tracker)
            )
            return events
        except StoreUnavailable as exc:
            utter_error(dispatcher, StoreDown(str(exc)))
            return events
        dispatcher.utter_message(
            response="utter_address_changed",
            order_id=order.order_id,
            new_address=address_line(street, postal_code, city, current.country, address.province),
        )
        return events
