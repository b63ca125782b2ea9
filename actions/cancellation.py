"""Cancelling an order: only before it ships (policy ``cancellable_statuses``),
always after an explicit yes, and the refund date is said at once.

The store re-checks the status in the same transaction as the write, so an
order that ships between the question and the yes is not cancelled.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.orders import apologise_for_late_refunds, order_variables
from actions.verification import (
    OrderFormValidation,
    current_order,
    utter_error,
    verified_order,
)
from core.errors import StoreDown
from core.formatting import date_es, money_es
from core.policy import StorePolicy, load_policy
from core.promises import ON_TIME, delivery_state
from core.store import Order, StoreUnavailable, shared_store
from core.store.errors import OrderStateChanged


def shipped_refusal(order: Order, policy: StorePolicy) -> str:
    """The refusal for an order that has left the warehouse: past its
    delivery date (``core.promises``) it says so, apologises and offers
    the not-received path or a person, not only "return it when it comes"."""
    if delivery_state(order, policy) != ON_TIME:
        return "utter_cancel_not_possible_shipped_late"
    return "utter_cancel_not_possible_shipped"


class ValidateCancelForm(OrderFormValidation):
    form = "cancel_form"

    async def task_slots(self, order: Order, tracker: Tracker) -> List[Text]:
        if order.status in self.policy.cancellable_statuses:
            return ["cancel_confirmed"]
        return []

    async def validate_cancel_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        return self.confirmation("cancel_confirmed", value, tracker)


class ActionAskCancelConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_cancel_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order = await current_order(tracker)
        total = money_es(order.total, load_policy().currency) if order else ""
        dispatcher.utter_message(
            response="utter_confirm_cancel", order_id=tracker.get_slot("verified_order_id"), total=total
        )
        return []


class ActionCancelOrder(Action):
    def name(self) -> Text:
        return "action_cancel_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        confirmed = tracker.get_slot("cancel_confirmed")
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        policy = load_policy()
        variables: Dict[str, Any] = order_variables(order, policy, tracker)
        variables["return_window_days"] = policy.return_window_days
        if order.status in ("shipped", "out_for_delivery"):
            dispatcher.utter_message(response=shipped_refusal(order, policy), **variables)
            return events
        if order.status == "delivered":
            dispatcher.utter_message(response="utter_cancel_not_possible_delivered", **variables)
            return events
        if order.status not in policy.cancellable_statuses:
            dispatcher.utter_message(response="utter_cancel_not_possible_closed", **variables)
            apologise_for_late_refunds(dispatcher, order, policy, tracker)
            return events
        if confirmed is not True:
            dispatcher.utter_message(response="utter_cancel_kept", **variables)
            return events
        try:
            cancelled = await shared_store().cancel_order(
                order.order_id, policy.refund_days, policy.cancellable_statuses
            )
        except OrderStateChanged:
            # It shipped meanwhile: answer from the fresh state.
            fresh = await shared_store().get_order(order.order_id)
            if fresh is not None:
                variables = order_variables(fresh, policy, tracker)
                variables["return_window_days"] = policy.return_window_days
            dispatcher.utter_message(
                response=shipped_refusal(fresh, policy) if fresh else "utter_cancel_not_possible_shipped",
                **variables)
            return events
        except StoreUnavailable as exc:
            utter_error(dispatcher, StoreDown(str(exc)))
            return events
        if not cancelled.refunds:
            # pending_payment: nothing was charged, so there is nothing to refund.
            dispatcher.utter_message(response="utter_cancel_done_unpaid", order_id=cancelled.order_id)
            return events
        refund = max(cancelled.refunds, key=lambda r: r.created_at)
        dispatcher.utter_message(
            response="utter_cancel_done",
            order_id=cancelled.order_id,
            amount=money_es(refund.amount, policy.currency),
            payment_method=cancelled.payment_method,
            refund_date=date_es(refund.expected_at),
        )
        return events
