"""Returns and exchanges: who may return what, and creating the record.

Eligibility (``return_eligibility``, also used by the bridge's case card):
the order must be delivered, the delivery at most ``return_window_days`` ago
(counted in the store's time zone), and the item not final sale nor already
in an open or completed return.

An exchange (another size or colour; ``actions.exchanges`` reads it from the
shopper's words) is a return path of the same form and the same eligibility,
stored as a return of kind 'exchange' with the wanted variant: no refund.
An item still in a just-requested return can be exchanged: that return
becomes (or gives the item to) the exchange instead of "nada que devolver".
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.errors import InvalidExchangeVariant, InvalidReturnItems, StoreDown
from actions.exchanges import (
    parse_variant,
    resolve_variant,
    same_as_current,
    wants_exchange,
    with_article,
)
from actions.form_prefill import PrefillAfterVerification, events_of_form, form_texts
from actions.formatting import RETURN_REASON_LABELS, date_es, items_es, money_es
from actions.shopper_words import items_mentioned, reason_in
from actions.orders import apologise_for_late_refunds, order_variables
from actions.policy import StorePolicy, load_policy
from actions.store import Order, OrderItem, Return, StoreUnavailable, shared_store
from actions.store.errors import ReturnStateChanged, UnknownItems
from actions.verification import (
    current_order,
    utter_error,
    verified_order,
    wants_to_stop,
)

ALL_WORDS = re.compile(r"\b(todos?|todas?|todo el pedido|ambos|ambas|los dos|las dos)\b", re.I)


@dataclass(frozen=True)
class Eligibility:
    """``reason`` is None when something can be returned."""

    reason: Optional[str]          # not_delivered | window_expired | final_sale | in_return | closed | None
    eligible: Tuple[OrderItem, ...]
    final_sale: Tuple[OrderItem, ...]
    days_since_delivery: Optional[int]

    @property
    def ok(self) -> bool:
        return self.reason is None


def convertible_returns(order: Order) -> Tuple[Return, ...]:
    """Returns an exchange may take items from: still requested (nothing
    received or refunded yet) and not exchanges already."""
    return tuple(r for r in order.returns if r.status == "requested" and not r.is_exchange)


def return_eligibility(
    order: Order, policy: StorePolicy, today: Optional[dt.date] = None, for_exchange: bool = False
) -> Eligibility:
    """``for_exchange``: items of a still-requested return count as eligible
    (the exchange converts that return)."""
    today = today or policy.today()
    if order.status in ("cancelled", "returned"):
        return Eligibility("closed", (), (), None)
    delivered_at = order.shipment.delivered_at if order.shipment else None
    if order.status != "delivered" or delivered_at is None:
        return Eligibility("not_delivered", (), (), None)
    days = (today - delivered_day(order, policy)).days
    if policy.return_days_left(delivered_day(order, policy), today) < 0:
        return Eligibility("window_expired", (), (), days)
    convertible = {r.return_number for r in convertible_returns(order)} if for_exchange else set()
    returned_ids = {
        item_id for ret in order.returns
        if ret.status != "rejected" and ret.return_number not in convertible for item_id in ret.item_ids
    }
    open_items = [item for item in order.items if item.id not in returned_ids]
    eligible = tuple(item for item in open_items if not item.final_sale)
    final_sale = tuple(item for item in open_items if item.final_sale)
    if not eligible:
        if final_sale:
            return Eligibility("final_sale", (), final_sale, days)
        return Eligibility("in_return" if order.returns else "closed", (), final_sale, days)
    return Eligibility(None, eligible, final_sale, days)


def delivered_day(order: Order, policy: StorePolicy) -> dt.date:
    """The store day an order was delivered (it must have been)."""
    delivered_at = order.shipment.delivered_at  # type: ignore[union-attr]
    return delivered_at.astimezone(policy.tz).date() if delivered_at.tzinfo else delivered_at.date()


def deadline_variables(order: Order, policy: StorePolicy, quantity: int) -> Dict[str, str]:
    """How the return instructions say the deadline: 'el jueves 3 de
    diciembre' (the last day to hand the parcel in, from the delivery date)
    and 'el artículo' / 'los artículos' for what goes in the parcel."""
    return {
        "return_deadline": date_es(policy.return_deadline(delivered_day(order, policy))),
        "the_items": "el artículo" if quantity == 1 else "los artículos",
    }


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


def is_exchange(tracker: Tracker) -> bool:
    """This run of return_form is an exchange: the shopper asked for another
    size or colour (the intent is return_request either way)."""
    return wants_exchange(form_texts(tracker, "return_form"))


def recent_return(order: Order, tracker: Tracker) -> Optional[Return]:
    """The return this conversation just created, if it can still become an
    exchange ("¿podría cambiarlas por una talla 41?" right after it)."""
    number = tracker.get_slot("last_return_number")
    return next((r for r in convertible_returns(order) if r.return_number == number), None)


class ValidateReturnForm(PrefillAfterVerification):
    form = "return_form"

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        if is_exchange(tracker):
            if return_eligibility(order, self.policy, for_exchange=True).ok:
                # the summary (items and size or colour, inferred or said) is confirmed before the record
                return ["return_items", "exchange_variant", "exchange_confirmed"]
            return []
        if return_eligibility(order, self.policy).ok:
            # the summary (items and amount) is confirmed before the record, as for an exchange
            return ["return_items", "return_reason", "return_confirmed"]
        return []

    async def answers_question(self, tracker: Tracker) -> bool:
        """A size or colour, an item of the order, or the reason (free text)
        answers this form's questions whatever the intent."""
        if await super().answers_question(tracker):
            return True
        requested = tracker.get_slot("requested_slot")
        text = str((tracker.latest_message or {}).get("text") or "")
        if requested == "return_reason":
            return True
        if requested in ("exchange_variant", "exchange_confirmed"):
            return parse_variant(text) is not None
        if requested == "return_items":
            order = await current_order(tracker)
            if order is None:
                return False
            try:
                parse_item_choice(text, return_eligibility(order, self.policy, for_exchange=is_exchange(tracker)).eligible)
                return True
            except InvalidReturnItems:
                return items_mentioned([text], [item.name for item in order.items]) is not None
        return False

    async def extract_return_items(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A typed choice ("1", "todos", an item's name) is the answer whatever
        intent the classifier gave it: a bare "1" often reads as chit-chat,
        which the domain's text mapping rightly ignores. For an exchange the
        items may be known already: the return just created ("cámbialas")
        or the item named when asking ("cambiar las zapatillas")."""
        exchange = is_exchange(tracker)
        if tracker.get_slot("requested_slot") != "return_items":
            if tracker.get_slot("return_items"):
                return {}
            order = await current_order(tracker)
            if order is None:
                return {}
            eligible = return_eligibility(order, self.policy, for_exchange=exchange).eligible
            # named among all the order's items, so "las zapatillas de trail" (final
            # sale) is never taken for the other, returnable pair
            named = items_mentioned(form_texts(tracker, "return_form"), [i.name for i in order.items]) or []
            chosen = [order.items[i].id for i in named]
            if not chosen and exchange:
                just_returned = recent_return(order, tracker)
                chosen = list(just_returned.item_ids) if just_returned else []
            if chosen and {i.id for i in eligible} >= set(chosen):
                return {"return_items": ",".join(str(i) for i in sorted(chosen))}
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        order = await current_order(tracker)
        if order is None:
            return {}
        try:
            parse_item_choice(text, return_eligibility(order, self.policy, for_exchange=exchange).eligible)
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
        eligibility = return_eligibility(order, self.policy, for_exchange=is_exchange(tracker))
        eligible_ids = {item.id for item in eligibility.eligible}
        chosen = [int(i) for i in str(value or "").split(",") if i.strip().isdigit()]
        if chosen and set(chosen) <= eligible_ids and tracker.get_slot("requested_slot") != "return_items":
            return {"return_items": ",".join(str(i) for i in chosen)}  # pre-filled ids
        try:
            ids = parse_item_choice(value, eligibility.eligible)
        except InvalidReturnItems as error:
            utter_error(dispatcher, error)
            return {"return_items": None}
        return {"return_items": ",".join(str(i) for i in ids)}

    async def extract_return_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The reason said before it is asked ("… porque me quedan pequeñas")."""
        if tracker.get_slot("return_reason") or tracker.get_slot("requested_slot") == "return_reason":
            return {}
        reason = reason_in(form_texts(tracker, "return_form"))
        return {"return_reason": reason} if reason else {}

    async def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"return_reason": None, "form_stopped": True}
        text = self.free_text(value)
        return {"return_reason": text}

    async def extract_exchange_variant(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The size or colour said before it is asked ("cambiarlas por una
        talla 41"), or the answer to the question whatever its intent. A value
        left by an earlier, unfinished exchange (a handoff closes a form without
        this action) is not reused."""
        if tracker.get_slot("exchange_variant"):
            if _set_in_form(tracker, "exchange_variant"):
                return {}
            tracker.slots["exchange_variant"] = None
            found = next((t for t in reversed(form_texts(tracker, "return_form")) if parse_variant(t)), None)
            return {"exchange_variant": found}
        if tracker.get_slot("requested_slot") == "exchange_variant":
            text = str((tracker.latest_message or {}).get("text") or "")
            return {"exchange_variant": text} if parse_variant(text) else {}
        for text in reversed(form_texts(tracker, "return_form")):
            if parse_variant(text):
                return {"exchange_variant": text}
        return {}

    async def validate_exchange_variant(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if wants_to_stop(tracker):
            return {"exchange_variant": None, "form_stopped": True}
        if not value:
            return {"exchange_variant": None}  # cleared, not answered: nothing to complain about
        wanted = parse_variant(str(value))
        if wanted is None:
            utter_error(dispatcher, InvalidExchangeVariant())
            return {"exchange_variant": None}
        order = await current_order(tracker)
        chosen = _chosen_items(order, tracker.get_slot("return_items")) if order else []
        names = [item.name for item in chosen]
        absolute = resolve_variant(wanted, names)
        if absolute is None:
            # "una talla más" of an item whose size we do not know: ask for the size.
            utter_error(dispatcher, InvalidExchangeVariant())
            return {"exchange_variant": None}
        if same_as_current(absolute, names):
            dispatcher.utter_message(response="utter_exchange_same_variant", wanted_variant=with_article(absolute))
            return {"exchange_variant": None}
        return {"exchange_variant": absolute}


    async def validate_exchange_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Yes or no to the summary; another size or colour instead ("mejor
        la 43") replaces the wanted one and the summary is shown again."""
        if isinstance(value, str) and not value.startswith("/") and parse_variant(value):
            order = await current_order(tracker)
            names = [item.name for item in _chosen_items(order, tracker.get_slot("return_items"))] if order else []
            absolute = resolve_variant(parse_variant(value) or "", names)
            if absolute and absolute != tracker.get_slot("exchange_variant") and not same_as_current(absolute, names):
                return {"exchange_variant": absolute, "exchange_confirmed": None}
        return self.confirmation("exchange_confirmed", value, tracker)

    async def validate_return_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Yes or no to the return's summary (a "no" keeps the order as it is)."""
        return self.confirmation("return_confirmed", value, tracker)


def _set_in_form(tracker: Tracker, slot: str) -> bool:
    return any(e.get("event") == "slot" and e.get("name") == slot for e in events_of_form(tracker, "return_form"))


def _chosen_items(order: Order, chosen: Any) -> List[OrderItem]:
    ids = {int(i) for i in str(chosen or "").split(",") if i.strip().isdigit()}
    return [item for item in order.items if item.id in ids]


class ActionAskReturnItems(Action):
    """Lists the returnable (or exchangeable) items as numbered buttons (plus 'todos')."""

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
        exchange = is_exchange(tracker)
        eligibility = return_eligibility(order, policy, for_exchange=exchange)
        if eligibility.final_sale:
            dispatcher.utter_message(response="utter_return_some_final_sale", items=items_es(eligibility.final_sale))
        buttons = [
            {"title": f"{index}. {item.name}", "payload": f'/inform{{"return_item":"{index}"}}'}
            for index, item in enumerate(eligibility.eligible, start=1)
        ]
        if len(eligibility.eligible) > 1:
            buttons.append({"title": "Todos", "payload": '/inform{"return_item":"todos"}'})
        dispatcher.utter_message(
            response="utter_ask_exchange_items" if exchange else "utter_ask_return_items",
            items=items_es(eligibility.eligible, numbered=True),
            buttons=buttons,
        )
        return []


class ActionAskExchangeConfirmed(Action):
    """The exchange's summary (order, items, wanted size or colour) and the yes/no."""

    def name(self) -> Text:
        return "action_ask_exchange_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order = await current_order(tracker)
        chosen = _chosen_items(order, tracker.get_slot("return_items")) if order else []
        dispatcher.utter_message(
            response="utter_confirm_exchange",
            order_id=tracker.get_slot("verified_order_id"),
            items=items_es(chosen),
            wanted_variant=with_article(str(tracker.get_slot("exchange_variant") or "")),
        )
        return []


class ActionAskReturnConfirmed(Action):
    """The return's summary (order, items, the amount refunded) and the yes/no."""

    def name(self) -> Text:
        return "action_ask_return_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order = await current_order(tracker)
        chosen = _chosen_items(order, tracker.get_slot("return_items")) if order else []
        amount = money_es(sum((i.unit_price * i.quantity for i in chosen), start=0), load_policy().currency)
        dispatcher.utter_message(
            response="utter_confirm_return",
            order_id=tracker.get_slot("verified_order_id"),
            items=items_es(chosen),
            amount=amount,
        )
        return []


class ActionCreateReturn(Action):
    """Submit of return_form: creates the return, or the exchange (converting
    the return just created when it holds the same items)."""

    def name(self) -> Text:
        return "action_create_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        chosen = tracker.get_slot("return_items")
        reason = tracker.get_slot("return_reason")
        variant = tracker.get_slot("exchange_variant")
        exchange = is_exchange(tracker)
        order, events = await verified_order(dispatcher, tracker)
        events = events + [SlotSet("exchange_variant", None)]
        if order is None:
            return events
        policy = load_policy()
        eligibility = return_eligibility(order, policy, for_exchange=exchange)
        variables: Dict[str, Any] = order_variables(order, policy, tracker)
        variables.update(return_window_days=policy.return_window_days)
        if not eligibility.ok:
            _utter_ineligible(dispatcher, order, eligibility, variables, exchange, tracker)
            return events
        eligible_ids = {item.id for item in eligibility.eligible}
        item_ids = [int(i) for i in str(chosen or "").split(",") if i.strip().isdigit()]
        if not item_ids or not set(item_ids) <= eligible_ids or not (variant if exchange else reason):
            dispatcher.utter_message(response="utter_form_stopped")
            return events
        if exchange and tracker.get_slot("exchange_confirmed") is not True:
            dispatcher.utter_message(response="utter_exchange_kept", order_id=order.order_id)
            return events
        if not exchange and tracker.get_slot("return_confirmed") is not True:
            dispatcher.utter_message(response="utter_return_kept", order_id=order.order_id)
            return events
        chosen_items = [item for item in order.items if item.id in item_ids]
        amount = money_es(sum((item.unit_price * item.quantity for item in chosen_items), start=0), policy.currency)
        try:
            if exchange:
                created, converted = await _create_exchange(order, item_ids, str(variant))
            else:
                created = await shared_store().create_return(
                    order.order_id, item_ids, RETURN_REASON_LABELS.get(reason, reason)
                )
                converted = False
        except (UnknownItems, ReturnStateChanged):
            dispatcher.utter_message(response="utter_form_stopped")
            return events
        except StoreUnavailable as exc:
            utter_error(dispatcher, StoreDown(str(exc)))
            return events
        common = dict(
            return_number=created.return_number,
            items=items_es(chosen_items),
            email=order.customer.email,
            return_window_days=policy.return_window_days,
            refund_days=policy.refund_days,
            amount=amount,
            # where the parcel is handed in follows the country it was shipped to
            dropoff=policy.return_dropoff_for(order.shipping_address.country),
            **deadline_variables(order, policy, sum(item.quantity for item in chosen_items)),
        )
        if exchange:
            dispatcher.utter_message(
                response="utter_exchange_from_return" if converted else "utter_exchange_created",
                wanted_variant=with_article(str(variant)), **common,
            )
        else:
            dispatcher.utter_message(response="utter_return_created", **common)
            if reason == "talla":
                dispatcher.utter_message(response="utter_return_offer_exchange")
        return events + [SlotSet("last_return_number", created.return_number)]


async def _create_exchange(order: Order, item_ids: List[int], variant: str) -> Tuple[Return, bool]:
    """The exchange record: a requested return holding exactly these items
    becomes the exchange (same number, same label); items taken from a
    bigger one move to a new exchange; others get a new one. True when a
    whole return was converted."""
    wanted = set(item_ids)
    for ret in convertible_returns(order):
        if set(ret.item_ids) == wanted:
            return await shared_store().convert_to_exchange(order.order_id, ret.return_number, item_ids, variant), True
    in_returns = {i for r in convertible_returns(order) for i in r.item_ids}
    if wanted & in_returns:
        # Split: each return gives up its items; one exchange record per source return.
        created: Optional[Return] = None
        for ret in convertible_returns(order):
            mine = sorted(wanted & set(ret.item_ids))
            if mine:
                created = await shared_store().convert_to_exchange(order.order_id, ret.return_number, mine, variant)
        rest = sorted(wanted - in_returns)
        if rest:
            created = await shared_store().create_return(order.order_id, rest, f"cambio por {variant}", variant)
        assert created is not None
        return created, False
    return await shared_store().create_return(order.order_id, item_ids, f"cambio por {variant}", variant), False


def _utter_ineligible(
    dispatcher: CollectingDispatcher, order: Order, eligibility: Eligibility, variables: Dict[str, Any],
    exchange: bool = False, tracker: Optional[Tracker] = None,
) -> None:
    """Why nothing can be returned (or, for an exchange, exchanged)."""
    if eligibility.reason == "window_expired":
        dispatcher.utter_message(
            response="utter_exchange_window_expired" if exchange else "utter_return_window_expired",
            days_since_delivery=eligibility.days_since_delivery, **variables,
        )
    elif eligibility.reason == "final_sale":
        variables["items"] = items_es(eligibility.final_sale)
        dispatcher.utter_message(response="utter_exchange_final_sale" if exchange else "utter_return_final_sale",
                                 **variables)
    elif eligibility.reason == "not_delivered":
        if exchange:
            # another size before it ships: what can be done (cancel and order again, or exchange once delivered)
            unshipped = order.status in load_policy().cancellable_statuses
            dispatcher.utter_message(
                response="utter_exchange_not_shipped" if unshipped else "utter_exchange_not_delivered", **variables)
        else:
            dispatcher.utter_message(response="utter_return_not_delivered", **variables)
    elif eligibility.reason == "in_return":
        open_returns = [r for r in order.returns if r.status != "rejected"]
        variables["returns"] = "\n".join(_return_line(r, order) for r in open_returns)
        dispatcher.utter_message(response="utter_return_all_in_returns", **variables)
    else:
        dispatcher.utter_message(response="utter_return_closed", **variables)
        apologise_for_late_refunds(dispatcher, order, load_policy(), tracker)


RETURN_STATUS_LABELS = {
    "requested": "solicitado", "received": "recibido", "refunded": "reembolsado", "rejected": "rechazado",
}


def _return_line(ret: Return, order: Order) -> str:
    """'• DEV-123456 (cambio por la talla 41): Zapatillas … — solicitado'."""
    names = ", ".join(item.name for item in order.items if item.id in ret.item_ids)
    kind = f"cambio por {with_article(ret.wanted_variant or '')}" if ret.is_exchange else "devolución"
    return f"• {ret.return_number} ({kind}): {names} — {RETURN_STATUS_LABELS.get(ret.status, ret.status)}"


def exchange_lines(order: Order) -> str:
    """The order's open exchanges, one line each (for refund status)."""
    return "\n".join(_return_line(r, order) for r in order.returns if r.is_exchange and r.status != "rejected")
