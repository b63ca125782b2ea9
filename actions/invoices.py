"""Invoice link for a verified order. Invoices exist once payment is
confirmed (the store gives the number; the policy file the URL base)."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.formatting import status_label
from actions.policy import load_policy
from actions.verification import OrderFormValidation, verified_order


class ValidateInvoiceForm(OrderFormValidation):
    form = "invoice_form"


class ActionInvoice(Action):
    def name(self) -> Text:
        return "action_invoice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        order, events = await verified_order(dispatcher, tracker)
        if order is None:
            return events
        if not order.invoice_number:
            dispatcher.utter_message(
                response="utter_invoice_not_available",
                order_id=order.order_id,
                status_label=status_label(order.status),
            )
            return events
        dispatcher.utter_message(
            response="utter_invoice_link",
            order_id=order.order_id,
            invoice_number=order.invoice_number,
            invoice_url=load_policy().invoice_url(order.invoice_number),
        )
        return events
