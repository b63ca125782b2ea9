"""Refund status and invoice links for verified orders."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.invoices import ActionInvoice
from actions.refunds import ActionRefundStatus
from tests.actions.conftest import make_tracker, responses, verified_slots


@pytest.mark.asyncio
async def test_refunds_are_listed_with_state_and_date(shop, domain, orders) -> None:
    demo = orders.find(status="cancelled", has_refunds=True)
    dispatcher = CollectingDispatcher()
    await ActionRefundStatus().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    assert responses(dispatcher) == ["utter_refund_status"]
    text = dispatcher.messages[0]["refunds"]
    assert text.count("•") == len(demo["refunds"])
    expected_words = {"pending": "pendiente", "processing": "en curso", "completed": "completado"}
    for refund in demo["refunds"]:
        assert expected_words[refund["status"]] in text


@pytest.mark.asyncio
async def test_order_without_refunds_says_so(shop, domain, orders) -> None:
    demo = orders.find(status="shipped", has_refunds=False)
    dispatcher = CollectingDispatcher()
    await ActionRefundStatus().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    assert responses(dispatcher) == ["utter_refund_none"]


@pytest.mark.asyncio
async def test_invoice_link_for_a_paid_order(shop, domain, orders) -> None:
    demo = orders.find(status="delivered", paid=True)
    dispatcher = CollectingDispatcher()
    await ActionInvoice().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    assert responses(dispatcher) == ["utter_invoice_link"]
    assert demo["invoice_number"] in dispatcher.messages[0]["invoice_url"]


@pytest.mark.asyncio
async def test_no_invoice_before_payment(shop, domain, orders) -> None:
    demo = orders.find(status="pending_payment", paid=False)
    dispatcher = CollectingDispatcher()
    await ActionInvoice().run(dispatcher, make_tracker(slots=verified_slots(demo)), domain)
    assert responses(dispatcher) == ["utter_invoice_not_available"]


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["necesito la factura a nombre de mi empresa con CIF B12345678",
                                  "quiero factura con mis datos fiscales", "soy autónomo, necesito factura con mi NIF"])
async def test_an_invoice_for_a_company_gets_the_link_and_the_way_to_a_new_one(shop, domain, orders, text) -> None:
    """Walkthrough: «a nombre de mi empresa con CIF» got the fallback, and the
    plain link never said that it carries the order's data, not the company's."""
    demo = orders.find(status="delivered", paid=True)
    events = [{"event": "user", "text": text, "parse_data": {"intent": {"name": "invoice_request"}, "text": text}},
              {"event": "active_loop", "name": "invoice_form"}, {"event": "active_loop", "name": None}]
    dispatcher = CollectingDispatcher()
    await ActionInvoice().run(dispatcher, make_tracker(slots=verified_slots(demo), events=events), domain)
    assert responses(dispatcher) == ["utter_invoice_link", "utter_invoice_company"]
    buttons = [b["payload"] for b in domain["responses"]["utter_invoice_company"][0]["buttons"]]
    assert any("invoice_fiscal_data" in p for p in buttons)


@pytest.mark.asyncio
async def test_a_plain_invoice_request_gets_only_the_link(shop, domain, orders) -> None:
    demo = orders.find(status="delivered", paid=True)
    events = [{"event": "user", "text": "necesito la factura", "parse_data": {"intent": {"name": "invoice_request"}}},
              {"event": "active_loop", "name": "invoice_form"}]
    dispatcher = CollectingDispatcher()
    await ActionInvoice().run(dispatcher, make_tracker(slots=verified_slots(demo), events=events), domain)
    assert responses(dispatcher) == ["utter_invoice_link"]
