"""Where is my order, and my order has not arrived.

Delivery-window rule (``StorePolicy.is_overdue``, the one place it lives): a
shipped order is overdue when today (store time zone) is more than
``overdue_grace_days`` past its expected delivery date. Overdue, or marked
delivered but not received, goes to a person with that reason. The status
answer of an order in transit past its date says it is late and apologises;
overdue, it offers what "my order has not arrived" does (a person opens an
incident with the carrier).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.exchanges import with_article
from actions.frustration import sorry
from actions.handoff import hand_over
from actions.verification import OrderFormValidation, verified_order
from core.addresses.postcodes import shipping_zone
from core.formatting import date_es, items_es, refund_summary, status_label
from core.policy import StorePolicy, load_policy
from core.promises import IN_TRANSIT, NOT_SHIPPED, ON_TIME, OVERDUE, delivery_state, late_refunds
from core.returns import delivered_day
from core.store import Order, Return


def order_variables(order: Order, policy: StorePolicy, tracker: Optional[Tracker] = None) -> Dict[str, Any]:
    """Everything the order answers may show, rendered in Spanish. With the
    tracker, ``sorry`` is empty when this flow already apologised."""
    shipment = order.shipment
    return {
        "sorry": sorry(tracker),
        "order_id": order.order_id,
        "status_label": status_label(order.status),
        "expected_date": date_es(order.expected_delivery),
        "items": items_es(order.items),
        "payment_method": order.payment_method,
        "carrier": shipment.carrier if shipment else "",
        "tracking_number": shipment.tracking_number if shipment else "",
        "tracking_url": policy.tracking_url(shipment.carrier, shipment.tracking_number) if shipment else "",
        "delivered_date": date_es(shipment.delivered_at) if shipment and shipment.delivered_at else "",
        "refund_summary": refund_summary(order.refunds, policy.currency),
        "days_late": policy.days_late(order.expected_delivery),
        "overdue_date": date_es(policy.overdue_from(order.expected_delivery)),
    }


def status_response(order: Order, policy: StorePolicy) -> str:
    """The status answer: one per status, except an order past its expected
    date: in transit late within the grace days, or overdue; in preparation,
    late (a pending payment's answer shows no date: it waits for the payment)."""
    state = delivery_state(order, policy)
    if state != ON_TIME and order.status in IN_TRANSIT:
        return "utter_order_status_overdue" if state == OVERDUE else "utter_order_status_late"
    if state != ON_TIME and order.status == "processing":
        return "utter_order_status_processing_late"
    return f"utter_order_status_{order.status}"


def apologise_for_late_refunds(
    dispatcher: CollectingDispatcher, order: Order, policy: StorePolicy, tracker: Optional[Tracker] = None
) -> None:
    """After an answer that listed the order's refunds: when one is past its
    date, one apology and the offer of a person (the lines say which is late)."""
    if late_refunds(order.refunds, policy):
        dispatcher.utter_message(response="utter_refund_late", order_id=order.order_id, sorry=sorry(tracker))


class ValidateOrderStatusForm(OrderFormValidation):
    form = "order_status_form"


class ValidateNotReceivedForm(OrderFormValidation):
    form = "not_received_form"


class ActionOrderStatus(Action):
    def name(self) -> Text:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        policy = load_policy()
        variables = order_variables(order, policy, tracker)
        dispatcher.utter_message(response=status_response(order, policy), **variables)
        if order.status in ("cancelled", "returned"):
            apologise_for_late_refunds(dispatcher, order, policy, tracker)
        for exchange in open_exchanges(order):
            dispatcher.utter_message(response=EXCHANGE_STATUS_RESPONSES[exchange.status],
                                     **exchange_variables(order, exchange, policy))
        return events


# An exchange whose new size or colour has not been sent yet: "¿y cuándo
# llega la nueva?" is about it, not about the delivered order.
EXCHANGE_STATUS_RESPONSES = {"requested": "utter_exchange_status_requested",
                             "received": "utter_exchange_status_received"}


def open_exchanges(order: Order) -> List[Return]:
    """The order's exchanges still waiting for the parcel or for the new item."""
    return [r for r in order.returns if r.is_exchange and r.status in EXCHANGE_STATUS_RESPONSES]


def exchange_variables(order: Order, exchange: Return, policy: StorePolicy) -> Dict[str, Any]:
    """When the new size or colour leaves and how long it takes to the order's
    address (the zone's delivery days: mainland, islands or abroad)."""
    zone = shipping_zone(order.shipping_address.country, order.shipping_address.postal_code)
    prefix = {"mainland": "", "islands": "islands_", "international": "international_"}[zone]
    variables: Dict[str, Any] = {
        "return_number": exchange.return_number,
        "wanted_variant": with_article(exchange.wanted_variant or "el artículo nuevo"),
        "days_min": policy.raw[f"{prefix}delivery_days_min"],
        "days_max": policy.raw[f"{prefix}delivery_days_max"],
        "dropoff": policy.return_dropoff_for(order.shipping_address.country),
        "return_deadline": "",
    }
    if order.shipment is not None and order.shipment.delivered_at is not None:
        variables["return_deadline"] = date_es(policy.return_deadline(delivered_day(order, policy)))
    return variables


class ActionOrderNotReceived(Action):
    def name(self) -> Text:
        return "action_order_not_received"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        policy = load_policy()
        variables = order_variables(order, policy, tracker)
        state = delivery_state(order, policy)
        if order.status in NOT_SHIPPED:
            if state == ON_TIME:
                dispatcher.utter_message(response="utter_not_received_not_shipped", **variables)
                return events
            dispatcher.utter_message(response="utter_not_received_not_shipped_late", **variables)
            return hand_over(
                dispatcher, tracker, "order_late_not_shipped",
                {"order_id": order.order_id, "status": order.status,
                 "expected_delivery": order.expected_delivery.isoformat()},
                announce=False,
            )
        if order.status in IN_TRANSIT:
            if state == ON_TIME:
                dispatcher.utter_message(response="utter_not_received_in_window", **variables)
                return events
            if state != OVERDUE:
                dispatcher.utter_message(response="utter_not_received_late", **variables)
                return events
            dispatcher.utter_message(response="utter_not_received_overdue", **variables)
            return hand_over(
                dispatcher, tracker, "order_overdue",
                {"order_id": order.order_id, "expected_delivery": order.expected_delivery.isoformat()},
                announce=False,
            )
        if order.status == "delivered":
            dispatcher.utter_message(response="utter_not_received_marked_delivered", **variables)
            return hand_over(
                dispatcher, tracker, "delivered_not_received",
                {"order_id": order.order_id, "delivered_at": order.shipment.delivered_at.isoformat()
                 if order.shipment and order.shipment.delivered_at else None},
                announce=False,
            )
        dispatcher.utter_message(response="utter_not_received_closed", **variables)
        apologise_for_late_refunds(dispatcher, order, policy, tracker)
        return events
