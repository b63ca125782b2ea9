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
