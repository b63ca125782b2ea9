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

import re
from typing import Any, Dict, List, Mapping, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.exchanges import (
    parse_variant,
    resolve_variant,
    same_as_current,
    wants_exchange,
    with_article,
)
from actions.form_prefill import PrefillAfterVerification, events_of_form, form_texts, said_in_form
from actions.orders import apologise_for_late_refunds, order_variables
from actions.shopper_words import items_mentioned, names_another_kind, reason_in, units_answer, units_said
from actions.verification import (
    current_order,
    utter_error,
    verified_order,
    wants_to_stop,
)
from core.errors import InvalidExchangeVariant, InvalidReturnItems, InvalidReturnQuantity, StoreDown
from core.formatting import RETURN_REASON_LABELS, items_es, money_es
from core.policy import load_policy
from core.returns import (
    RETURN_STATUS_LABELS,
    Eligibility,
    convertible_returns,
    deadline_variables,
    lines_es,
    parse_units,
    return_eligibility,
    return_items_es,
    units_text,
)
from core.store import Order, OrderItem, Return, StoreUnavailable, shared_store
from core.store.errors import NotEnoughUnits, ReturnStateChanged, UnknownItems

# Intents whose message is a question of its own, never an answer (the domain's not_intent lists).
QUESTION_INTENTS = frozenset(
    "faq request_human complaint greet goodbye thank bot_challenge help out_of_scope".split())
# How many unit buttons the quantity question shows before «Todas».
UNIT_BUTTONS = 4

ALL_WORDS = re.compile(r"\b(todos?|todas?|todo el pedido|ambos|ambas|los dos|las dos)\b", re.I)


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


def chosen_ids(chosen: Any) -> List[int]:
    return [int(i) for i in str(chosen or "").split(",") if i.strip().isdigit()]


def chosen_units(order: Order, tracker: Tracker, eligibility: Eligibility) -> Dict[int, int]:
    """The units of each chosen line: the ones the shopper said or answered,
    else every unit of it still returnable (a line of one, or no answer asked)."""
    given = parse_units(tracker.get_slot("return_quantity"))
    ids = set(chosen_ids(tracker.get_slot("return_items")))
    return {item.id: given.get(item.id) or eligibility.units(item) or item.quantity
            for item in order.items if item.id in ids}


def _units_slots(order: Order, eligibility: Eligibility, ids: List[int], texts: List[str],
                 known: Optional[Mapping[int, int]] = None) -> Dict[Text, Any]:
    """``return_quantity`` once the units of every chosen line are known (a
    line with one unit left, the shopper's words: «2 camisetas», «todas»,
    or an answer), else the ones known so far in ``return_units_known`` and
    the question is asked for the next line."""
    units = dict(known or {})
    for item in order.items:
        if item.id not in ids or item.id in units:
            continue
        free = eligibility.units(item)
        said = units_said(texts, item.name, free) if free > 1 else free
        if said:
            units[item.id] = said
    if all(i in units for i in ids):
        return {"return_quantity": units_text(units), "return_units_known": None}
    return {"return_quantity": None, "return_units_known": units_text(units) or None}


def pending_line(order: Order, tracker: Tracker, eligibility: Eligibility) -> Optional[OrderItem]:
    """The chosen line whose units are asked next (more than one returnable,
    not said yet)."""
    ids = set(chosen_ids(tracker.get_slot("return_items")))
    known = parse_units(tracker.get_slot("return_units_known"))
    return next((item for item in order.items
                 if item.id in ids and item.id not in known and eligibility.units(item) > 1), None)


class ValidateReturnForm(PrefillAfterVerification):
    form = "return_form"

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        if is_exchange(tracker):
            if return_eligibility(order, self.policy, for_exchange=True).ok:
                # the summary (items and size or colour, inferred or said) is confirmed before the record
                return ["return_items", "return_quantity", "exchange_variant", "exchange_confirmed"]
            return []
        if return_eligibility(order, self.policy).ok:
            # the summary (items and amount) is confirmed before the record, as for an exchange
            return ["return_items", "return_quantity", "return_reason", "return_confirmed"]
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
        if requested == "return_quantity":
            return units_answer(text, 99) is not None
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
            if chosen and not {i.id for i in eligible} & set(chosen):
                self._nothing_left(dispatcher, tracker, order, chosen)
            if not chosen and exchange:
                # the return just made, unless the shopper names another kind of item
                # («¿podría cambiarlas por la 41?» is the boots; «cambiar una camiseta» is not)
                just_returned = recent_return(order, tracker)
                if just_returned and not names_another_kind(
                        form_texts(tracker, "return_form"), [i.name for i in order.items if i.id in just_returned.item_ids]):
                    chosen = list(just_returned.item_ids)
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
        texts = form_texts(tracker, "return_form")
        if chosen and set(chosen) <= eligible_ids and tracker.get_slot("requested_slot") != "return_items":
            # pre-filled ids; an exchange of the return just made takes its units
            just_returned = recent_return(order, tracker) if is_exchange(tracker) else None
            known = ({item.id: just_returned.units_of(item) for item in order.items if item.id in chosen}
                     if just_returned and set(just_returned.item_ids) == set(chosen) else None)
            return {"return_items": ",".join(str(i) for i in chosen),
                    **_units_slots(order, eligibility, chosen, texts, known)}
        try:
            ids = parse_item_choice(value, eligibility.eligible)
        except InvalidReturnItems as error:
            utter_error(dispatcher, error)
            return {"return_items": None}
        return {"return_items": ",".join(str(i) for i in ids), **_units_slots(order, eligibility, ids, texts)}

    def _nothing_left(self, dispatcher: CollectingDispatcher, tracker: Tracker, order: Order,
                      chosen: List[int]) -> None:
        """The item named has no unit left to return (all in returns): said
        once in this run of the form, with those returns; the others are asked."""
        if said_in_form(tracker, "return_form", {"utter_return_item_all_in_returns"}):
            return
        named = [item for item in order.items if item.id in chosen]
        holding = [r for r in order.returns if r.status != "rejected" and set(r.item_ids) & set(chosen)]
        if not holding:
            return
        dispatcher.utter_message(
            response="utter_return_item_all_in_returns",
            items=", ".join(item.name for item in named),
            returns="\n".join(_return_line(r, order) for r in holding),
        )

    async def extract_return_quantity(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The answer to «¿Cuántas unidades quieres devolver? Tienes 3.» for
        the line asked ("2", "una", "todas", a button), whatever its intent
        unless it is a question of its own. The units said before are set
        with the items (``validate_return_items``)."""
        if tracker.get_slot("requested_slot") != "return_quantity":
            if (tracker.get_slot("return_items") and tracker.get_slot("return_quantity") is None
                    and "return_items" not in tracker.slots_to_validate()):
                # the items were chosen in an earlier turn: the units not asked when they need not be
                order = await current_order(tracker)
                if order is None:
                    return {}
                eligibility = return_eligibility(order, self.policy, for_exchange=is_exchange(tracker))
                ids = chosen_ids(tracker.get_slot("return_items"))
                if not set(ids) <= {item.id for item in eligibility.eligible}:
                    return {}
                known = parse_units(tracker.get_slot("return_units_known"))
                found = _units_slots(order, eligibility, ids, form_texts(tracker, "return_form"), known)
                return found if found["return_quantity"] or parse_units(found["return_units_known"]) != known else {}
            return {}
        message = tracker.latest_message or {}
        if ((message.get("intent") or {}).get("name")) in QUESTION_INTENTS:
            return {}
        if wants_to_stop(tracker):
            return {"return_quantity": None, "form_stopped": True}
        order = await current_order(tracker)
        if order is None:
            return {}
        eligibility = return_eligibility(order, self.policy, for_exchange=is_exchange(tracker))
        ids = chosen_ids(tracker.get_slot("return_items"))
        known = parse_units(tracker.get_slot("return_units_known"))
        line = pending_line(order, tracker, eligibility)
        if line is not None:
            units = units_answer(str(message.get("text") or ""), eligibility.units(line))
            if units is None:
                utter_error(dispatcher, InvalidReturnQuantity(available=eligibility.units(line)))
                return {"return_quantity": None}
            known[line.id] = units
        return _units_slots(order, eligibility, ids, [], known)

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
            items=items_es(eligibility.eligible, numbered=True, units=eligibility.free_units),
            buttons=buttons,
        )
        return []


class ActionAskReturnQuantity(Action):
    """«¿Cuántas unidades quieres devolver? Tienes 3.» for the next chosen
    line with more than one unit left: buttons 1..n (up to a few) and «Todas»."""

    def name(self) -> Text:
        return "action_ask_return_quantity"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order = await current_order(tracker)
        if order is None:
            utter_error(dispatcher, StoreDown())
            return []
        exchange = is_exchange(tracker)
        line = pending_line(order, tracker, return_eligibility(order, load_policy(), for_exchange=exchange))
        if line is None:
            return []
        available = return_eligibility(order, load_policy(), for_exchange=exchange).units(line)
        buttons = [{"title": str(n), "payload": f'/inform{{"return_quantity":"{n}"}}'}
                   for n in range(1, min(available - 1, UNIT_BUTTONS) + 1)]
        buttons.append({"title": "Todas", "payload": '/inform{"return_quantity":"todas"}'})
        dispatcher.utter_message(
            response="utter_ask_exchange_quantity" if exchange else "utter_ask_return_quantity",
            available=available, item=line.name, buttons=buttons,
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
        units = chosen_units(order, tracker, return_eligibility(order, load_policy(), for_exchange=True)) if order else {}
        dispatcher.utter_message(
            response="utter_confirm_exchange",
            order_id=tracker.get_slot("verified_order_id"),
            items=lines_es(order, units) if order else items_es([]),
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
        policy = load_policy()
        units = chosen_units(order, tracker, return_eligibility(order, policy)) if order else {}
        dispatcher.utter_message(
            response="utter_confirm_return",
            order_id=tracker.get_slot("verified_order_id"),
            items=lines_es(order, units) if order else items_es([]),
            amount=money_es(refund_of(order, units) if order else 0, policy.currency),
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
        units = chosen_units(order, tracker, eligibility)
        if any(units[i] > eligibility.free_units.get(i, 0) for i in item_ids):
            # more units than are left (another return took some meanwhile)
            dispatcher.utter_message(response="utter_form_stopped")
            return events
        amount = money_es(refund_of(order, units), policy.currency)
        try:
            if exchange:
                created, converted = await _create_exchange(order, units, str(variant))
            else:
                created = await shared_store().create_return(
                    order.order_id, item_ids, RETURN_REASON_LABELS.get(reason, reason), quantities=units
                )
                converted = False
        except (UnknownItems, ReturnStateChanged, NotEnoughUnits):
            dispatcher.utter_message(response="utter_form_stopped")
            return events
        except StoreUnavailable as exc:
            utter_error(dispatcher, StoreDown(str(exc)))
            return events
        common = dict(
            return_number=created.return_number,
            items=lines_es(order, units),
            email=order.customer.email,
            return_window_days=policy.return_window_days,
            refund_days=policy.refund_days,
            amount=amount,
            # where the parcel is handed in follows the country it was shipped to
            dropoff=policy.return_dropoff_for(order.shipping_address.country),
            **deadline_variables(order, policy, sum(units.values())),
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


def refund_of(order: Order, units: Mapping[int, int]) -> Any:
    """What a return of these units refunds: unit price × units of each line."""
    return sum((item.unit_price * units[item.id] for item in order.items if item.id in units), start=0)


async def _create_exchange(order: Order, units: Mapping[int, int], variant: str) -> Tuple[Return, bool]:
    """The exchange record: a requested return holding exactly these units
    becomes the exchange (same number, same label); units taken from a
    bigger one move to a new exchange (one per source return); units in no
    return get a new one. True when a whole return was converted."""
    wanted = dict(units)
    for ret in convertible_returns(order):
        held = {item.id: ret.units_of(item) for item in order.items if item.id in ret.item_ids}
        if held == wanted:
            converted = await shared_store().convert_to_exchange(
                order.order_id, ret.return_number, sorted(wanted), variant, quantities=wanted)
            return converted, True
    left = dict(wanted)
    created: Optional[Return] = None
    for ret in convertible_returns(order):
        take = {item.id: min(left[item.id], ret.units_of(item))
                for item in order.items if item.id in ret.item_ids and left.get(item.id)}
        if take:
            created = await shared_store().convert_to_exchange(
                order.order_id, ret.return_number, sorted(take), variant, quantities=take)
            left = {i: n - take.get(i, 0) for i, n in left.items()}
    rest = {i: n for i, n in left.items() if n > 0}
    if rest:
        created = await shared_store().create_return(
            order.order_id, sorted(rest), f"cambio por {variant}", variant, quantities=rest)
    assert created is not None
    return created, False


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
            # only a parcel still in the warehouse can be cancelled instead
            unshipped = order.status in load_policy().cancellable_statuses
            dispatcher.utter_message(
                response="utter_return_not_shipped" if unshipped else "utter_return_not_delivered", **variables)
    elif eligibility.reason == "in_return":
        open_returns = [r for r in order.returns if r.status != "rejected"]
        variables["returns"] = "\n".join(_return_line(r, order) for r in open_returns)
        dispatcher.utter_message(response="utter_return_all_in_returns", **variables)
    else:
        dispatcher.utter_message(response="utter_return_closed", **variables)
        apologise_for_late_refunds(dispatcher, order, load_policy(), tracker)


def _return_line(ret: Return, order: Order) -> str:
    """'• DEV-123456 (cambio por la talla 41): Zapatillas … — solicitado'."""
    names = return_items_es(ret, order)
    kind = f"cambio por {with_article(ret.wanted_variant or '')}" if ret.is_exchange else "devolución"
    return f"• {ret.return_number} ({kind}): {names} — {RETURN_STATUS_LABELS.get(ret.status, ret.status)}"


def exchange_lines(order: Order) -> str:
    """The order's open exchanges, one line each (for refund status)."""
    return "\n".join(_return_line(r, order) for r in order.returns if r.is_exchange and r.status != "rejected")
