"""Invoice link for a verified order. Invoices exist once payment is
confirmed (the store gives the number; the policy file the URL base)."""
from __future__ import annotations

import re
from typing import Iterable, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.form_prefill import form_texts
from actions.verification import OrderFormValidation, verified_order
from core.formatting import status_label
from core.policy import load_policy


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
        if wants_fiscal_data(form_texts(tracker, "invoice_form")):
            # the store's invoice carries the order's data: another holder or
            # tax id is a new invoice, which a person issues
            dispatcher.utter_message(response="utter_invoice_company", invoice_number=order.invoice_number)
        return events


# «a nombre de mi empresa con CIF», «con mis datos fiscales», «factura A», «con mi RFC».
FISCAL_DATA = re.compile(
    r"\b(empresa|compañ[ií]a|sociedad|s\.?\s?l\.?u?|s\.?\s?a\.?|cif|nif|nie|rfc|cuit|rut|ruc|nit|raz[oó]n social|"
    r"datos fiscales|fiscal\w*|aut[oó]nom[oa]|a nombre de|factura (a|completa)|cfdi|iva desglosado)\b", re.I)


def wants_fiscal_data(texts: Iterable[str]) -> bool:
    """The shopper asked for an invoice with other holder or tax data."""
    return any(FISCAL_DATA.search(text or "") for text in texts)
