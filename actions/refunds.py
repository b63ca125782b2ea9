"""Where is my refund: every refund of a verified order with its state and
the date the money arrives (or arrived). An exchange is not a refund: it is
listed apart, as what it is."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.orders import apologise_for_late_refunds
from actions.returns import exchange_lines
from actions.verification import OrderFormValidation, verified_order
from core.formatting import refund_line
from core.policy import load_policy
from core.returns import returned_in


class ValidateRefundForm(OrderFormValidation):
    form = "refund_form"


class ActionRefundStatus(Action):
    def name(self) -> Text:
        return "action_refund_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        policy = load_policy()
        exchanges = exchange_lines(order)
        if not order.refunds:
            if exchanges:
                dispatcher.utter_message(
                    response="utter_refund_none_exchange", order_id=order.order_id, exchanges=exchanges
                )
            else:
                dispatcher.utter_message(
                    response="utter_refund_none", order_id=order.order_id, refund_days=policy.refund_days
                )
            return events
        refunds = sorted(order.refunds, key=lambda r: r.created_at)
        dispatcher.utter_message(
            response="utter_refund_status",
            order_id=order.order_id,
            refunds="\n".join(refund_line(r, policy.currency, returned_in(order, r.return_number)) for r in refunds),
        )
        apologise_for_late_refunds(dispatcher, order, policy, tracker)
        if exchanges:
            dispatcher.utter_message(response="utter_refund_exchanges", order_id=order.order_id, exchanges=exchanges)
        return events
