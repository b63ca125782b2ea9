"""Returns: who may return what, and creating the return.

Eligibility (``return_eligibility``, also used by the bridge's case card):
the order must be delivered, the delivery at most ``return_window_days`` ago
(counted in the store's time zone), and the item not final sale nor already
in an open or completed return.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.errors import InvalidReturnItems, StoreDown
from actions.formatting import RETURN_REASON_LABELS, items_es, money_es
from actions.orders import order_variables
from actions.policy import StorePolicy, load_policy
from actions.store import Order, OrderItem, StoreUnavailable, shared_store
from actions.store.errors import UnknownItems
from actions.verification import (
    OrderFormValidation,
    current_order,
    utter_error,
    verified_order,
    wants_to_stop,
)

ALL_WORDS = re.compile(r"\b(todos?|todas?|todo el pedido|ambos|ambas|los dos|las dos)\b", re.I)


@dataclass(frozen=True)
class Eligibility:
    """``reason`` is None when something can be returned."""

    reason: Optional[str]          # not_delivered | window_expired | final_sale | closed | None
    eligible: Tuple[OrderItem, ...]
    final_sale: Tuple[OrderItem, ...]
    days_since_delivery: Optional[int]

    @property
    def ok(self) -> bool:
        return self.reason is None


def return_eligibility(order: Order, policy: StorePolicy, today: Optional[dt.date] = None) -> Eligibility:
    today = today or policy.today()
    if order.status in ("cancelled", "returned"):
        return Eligibility("closed", (), (), None)
    delivered_at = order.shipment.delivered_at if order.shipment else None
    if order.status != "delivered" or delivered_at is None:
        return Eligibility("not_delivered", (), (), None)
    days = (today - delivered_at.astimezone(policy.tz).date()
            if delivered_at.tzinfo else today - delivered_at.date()).days
    if days > policy.return_window_days:
        return Eligibility("window_expired", (), (), days)
    returned_ids = {
        item_id for ret in order.returns if ret.status != "rejected" for item_id in ret.item_ids
    }
    open_items = [item for item in order.items if item.id not in returned_ids]
    eligible = tuple(item for item in open_items if not item.final_sale)
    final_sale = tuple(item for item in open_items if item.final_sale)
    if not eligible:
        return Eligibility("final_sale" if final_sale else "closed", (), final_sale, days)
    return Eligibility(None, eligible, final_sale, days)


def parse_item_choice(value: Any, eligible: Tuple[OrderItem, ...]) -> List[int]:
    """'todos', '1 y 3', '2', or an item name → the chosen item ids."""
    text = str(value or "").strip()
    if not text:
        raise InvalidReturnItems("empty choice")
    if ALL_WORDS.search(text):
        return [item.id for item in eligible]
    numbers = [int(n) for n in re.findall(r"(?<!\d)\d{1,2}(?!\d)", text)]
    if numbers:
        if all(1 <= n <= len(eligible) for n in numbers):
            return sorted({eligible[n - 1].id for n in numbers})
        raise InvalidReturnItems("number out of range")
    lowered = text.lower()
    named = [item.id for item in eligible if item.name.lower() in lowered or lowered in item.name.lower()]
    if named:
        return named
    raise InvalidReturnItems("no item recognised")


class ValidateReturnForm(OrderFormValidation):
    form = "return_form"

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        if return_eligibility(order, self.policy).ok:
            return ["return_items", "return_reason"]
        return []

    async def extract_return_items(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A typed choice ("1", "todos", an item's name) is the answer whatever
        intent the classifier gave it: a bare "1" often reads as chit-chat,
        which the domain's text mapping rightly ignores."""
        if tracker.get_slot("requested_slot") != "return_items":
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        order = await current_order(tracker)
        if order is None:
            return {}
        try:
            parse_item_choice(text, return_eligibility(order, self.policy).eligible)
        except InvalidReturnItems:
            return {}
        return {"return_items": text}

    async def validate_return_items(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"return_items": None, "form_stopped": True}
        try:
            order = await shared_store().get_order(tracker.get_slot("verified_order_id"))
        except StoreUnavailable:
            return {"return_items": None, "store_error": True}
        if order is None:
            return {"return_items": None, "store_error": True}
        eligibility = return_eligibility(order, self.policy)
        try:
            ids = parse_item_choice(value, eligibility.eligible)
        except InvalidReturnItems as error:
            utter_error(dispatcher, error)
            return {"return_items": None}
        return {"return_items": ",".join(str(i) for i in ids)}

    async def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"return_reason": None, "form_stopped": True}
        text = self.free_text(value)
        return {"return_reason": text}


class ActionAskReturnItems(Action):
    """Lists the returnable items as numbered buttons (plus 'todos')."""

    def name(self) -> Text:
        return "action_ask_return_items"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        try:
            order = await shared_store().get_order(tracker.get_slot("verified_order_id"))
        except StoreUnavailable:
            utter_error(dispatcher, StoreDown())
            return []
        if order is None:
            return []
        policy = load_policy()
        eligibility = return_eligibility(order, policy)
        if eligibility.final_sale:
            dispatcher.utter_message(response="utter_return_some_final_sale", items=items_es(eligibility.final_sale))
        buttons = [
            {"title": f"{index}. {item.name}", "payload": f'/inform{{"return_item":"{index}"}}'}
            for index, item in enumerate(eligibility.eligible, start=1)
        ]
        if len(eligibility.eligible) > 1:
            buttons.append({"title": "Todos", "payload": '/inform{"return_item":"todos"}'})
        usted = tracker.get_slot("brand_voice") == "usted"
        question = "¿Qué artículos quiere devolver?" if usted else "¿Qué artículos quieres devolver?"
        dispatcher.utter_message(
            text=f"{question}\n{items_es(eligibility.eligible, numbered=True)}", buttons=buttons
        )
        return []


class ActionCreateReturn(Action):
    def name(self) -> Text:
        return "action_create_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        chosen = tracker.get_slot("return_items")
        reason = tracker.get_slot("return_reason")
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        policy = load_policy()
        eligibility = return_eligibility(order, policy)
        variables: Dict[str, Any] = order_variables(order, policy)
        variables.update(return_window_days=policy.return_window_days)
        if not eligibility.ok:
            if eligibility.reason == "window_expired":
                dispatcher.utter_message(
                    response="utter_return_window_expired",
                    days_since_delivery=eligibility.days_since_delivery, **variables,
                )
            elif eligibility.reason == "final_sale":
                variables["items"] = items_es(eligibility.final_sale)
                dispatcher.utter_message(response="utter_return_final_sale", **variables)
            elif eligibility.reason == "not_delivered":
                dispatcher.utter_message(response="utter_return_not_delivered", **variables)
            else:
                dispatcher.utter_message(response="utter_return_closed", **variables)
            return events
        eligible_ids = {item.id for item in eligibility.eligible}
        item_ids = [int(i) for i in str(chosen or "").split(",") if i.strip().isdigit()]
        if not item_ids or not set(item_ids) <= eligible_ids or not reason:
            dispatcher.utter_message(response="utter_form_stopped")
            return events
        reason_text = RETURN_REASON_LABELS.get(reason, reason)
        try:
            created = await shared_store().create_return(order.order_id, item_ids, reason_text)
        except UnknownItems:
            dispatcher.utter_message(response="utter_form_stopped")
            return events
        except StoreUnavailable as exc:
            utter_error(dispatcher, StoreDown(str(exc)))
            return events
        chosen_items = [item for item in order.items if item.id in item_ids]
        amount = sum((item.unit_price * item.quantity for item in chosen_items), start=0)
        dispatcher.utter_message(
            response="utter_return_created",
            return_number=created.return_number,
            items=items_es(chosen_items),
            email=order.customer.email,
            return_window_days=policy.return_window_days,
            refund_days=policy.refund_days,
            amount=money_es(amount, policy.currency),
        )
        return events
