"""Changing the delivery address: only before shipping (policy
``address_change_statuses``), with street, postal code and city checked, read
back, and confirmed before the store is changed (atomically re-checking the
status)."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.errors import InvalidCity, InvalidPostalCode, InvalidStreet, StoreDown
from actions.orders import order_variables
from actions.policy import load_policy
from actions.store import Address, Order, StoreUnavailable, shared_store
from actions.store.errors import OrderStateChanged
from actions.verification import (
    OrderFormValidation,
    current_order,
    utter_error,
    verified_order,
    wants_to_stop,
)

# Postal code format per destination country: (pattern, hint for the shopper).
POSTAL_CODES: Dict[str, Tuple[str, str]] = {
    "España": (r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}", "son 5 cifras y empiezan por 01 a 52, por ejemplo 28013"),
    "Portugal": (r"\d{4}-\d{3}", "tiene el formato 1000-205"),
    "México": (r"\d{5}", "son 5 cifras, por ejemplo 06700"),
    "Argentina": (r"(?:[A-Z]\d{4}[A-Z]{3}|\d{4})", "tiene el formato C1425ABC o 4 cifras"),
    "Colombia": (r"\d{6}", "son 6 cifras, por ejemplo 110111"),
    "Chile": (r"\d{7}", "son 7 cifras, por ejemplo 8320000"),
    "Perú": (r"\d{5}", "son 5 cifras, por ejemplo 15074"),
}
DEFAULT_POSTAL = (r"[A-Z0-9][A-Z0-9 -]{2,9}", "escríbelo tal como aparece en tu dirección")


def normalize_postal_code(value: Any, country: str) -> str:
    text = re.sub(r"^(?:c\.?\s*p\.?|código postal|codigo postal|cp)[:\s]*", "", str(value or "").strip(), flags=re.I)
    text = text.upper().strip()
    pattern, hint = POSTAL_CODES.get(country, DEFAULT_POSTAL)
    match = re.fullmatch(pattern, text.replace(" ", "") if country != "Portugal" else text)
    if not match:
        raise InvalidPostalCode("bad postal code", country=country, postal_code_hint=hint)
    return match.group(0)


def normalize_street(value: Any) -> str:
    text = " ".join(str(value or "").split())[:200]
    has_number = bool(re.search(r"\d|s/n", text, re.I))
    if len(text) < 5 or not re.search(r"[^\W\d_]{2,}", text) or not has_number:
        raise InvalidStreet("street without name or number")
    return text


def normalize_city(value: Any) -> str:
    text = " ".join(str(value or "").split())[:80]
    if len(text) < 2 or re.search(r"\d", text) or not re.search(r"[^\W\d_]{2,}", text):
        raise InvalidCity("not a city")
    return text[:1].upper() + text[1:]


def address_text(street: str, postal_code: str, city: str, country: str) -> str:
    return f"{street}\n{postal_code} {city} ({country})"


class ValidateAddressForm(OrderFormValidation):
    form = "address_form"

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        if order.status in self.policy.address_change_statuses:
            return ["new_street", "new_postal_code", "new_city", "address_confirmed"]
        return []

    async def _country(self, tracker: Tracker) -> str:
        order = await current_order(tracker)
        return order.shipping_address.country if order else "España"

    async def validate_new_street(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"new_street": None, "form_stopped": True}
        try:
            return {"new_street": normalize_street(value)}
        except InvalidStreet as error:
            utter_error(dispatcher, error)
            return {"new_street": None}

    async def validate_new_postal_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"new_postal_code": None, "form_stopped": True}
        try:
            return {"new_postal_code": normalize_postal_code(value, await self._country(tracker))}
        except InvalidPostalCode as error:
            utter_error(dispatcher, error)
            return {"new_postal_code": None}

    async def validate_new_city(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"new_city": None, "form_stopped": True}
        try:
            return {"new_city": normalize_city(value)}
        except InvalidCity as error:
            utter_error(dispatcher, error)
            return {"new_city": None}


    async def validate_address_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return self.confirmation("address_confirmed", value, tracker)


class ActionAskAddressConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_address_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order = await current_order(tracker)
        country = order.shipping_address.country if order else "España"
        dispatcher.utter_message(
            response="utter_confirm_address",
            order_id=tracker.get_slot("verified_order_id"),
            new_address=address_text(
                tracker.get_slot("new_street"), tracker.get_slot("new_postal_code"),
                tracker.get_slot("new_city"), country,
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
        street, postal_code, city = (tracker.get_slot(s) for s in ("new_street", "new_postal_code", "new_city"))
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        policy = load_policy()
        variables = order_variables(order, policy)
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
        address = Address(street=street, postal_code=postal_code, city=city,
                          province=current.province if current.city == city else "", country=current.country)
        try:
            await shared_store().update_shipping_address(order.order_id, address, policy.address_change_statuses)
        except OrderStateChanged:
            fresh = await shared_store().get_order(order.order_id)
            dispatcher.utter_message(
                response="utter_address_change_not_possible", **order_variables(fresh or order, policy)
            )
            return events
        except StoreUnavailable as exc:
            utter_error(dispatcher, StoreDown(str(exc)))
            return events
        dispatcher.utter_message(
            response="utter_address_changed",
            order_id=order.order_id,
            new_address=address_text(street, postal_code, city, current.country),
        )
        return events
