"""Order status and 'my order has not arrived', against the real store."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.orders import ActionOrderNotReceived, ActionOrderStatus
from actions.policy import load_policy
from tests.actions.conftest import make_tracker, responses, verified_slots


async def _run(action, domain, order, **kwargs):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, make_tracker(slots=verified_slots(order), **kwargs), domain)
    return dispatcher, events


@pytest.mark.asyncio
@pytest.mark.parametrize("status", ["pending_payment", "processing", "shipped", "out_for_delivery", "delivered", "cancelled", "returned"])
async def test_status_answer_matches_the_order_in_the_store(shop, domain, orders, status) -> None:
    # in transit: one still within its delivery date (late ones have their own answer)
    order = next(o for o in orders.all(status=status)
                 if status not in ("shipped", "out_for_delivery") or o["expected_delivery_in_days"] >= 0)
    dispatcher, _ = await _run(ActionOrderStatus(), domain, order)
    assert responses(dispatcher) == [f"utter_order_status_{status}"]
    message = dispatcher.messages[0]
    assert message["order_id"] == order["order_id"]
    for item in order["items"]:
        assert item["name"] in message["items"]
    if order.get("tracking_number"):
        assert message["carrier"] == order["carrier"]
        assert message["tracking_number"] == order["tracking_number"]
        assert order["tracking_number"] in message["tracking_url"]


@pytest.mark.asyncio
async def test_nothing_is_shown_without_verification(shop, domain, orders) -> None:
    order = orders.find(status="shipped")
    dispatcher = CollectingDispatcher()
    # The number and email are known but were never verified together.
    tracker = make_tracker(slots={"order_id": order["order_id"], "email": order["email"]})
    await ActionOrderStatus().run(dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_verification_locked"]
    assert order["tracking_number"] not in str(dispatcher.messages)


@pytest.mark.asyncio
async def test_not_received_within_the_window_gives_the_date(shop, domain, orders) -> None:
    order = next(o for o in orders.all(status="shipped", overdue=False) if o["expected_delivery_in_days"] >= 0)
    dispatcher, events = await _run(ActionOrderNotReceived(), domain, order)
    assert responses(dispatcher) == ["utter_not_received_in_window"]
    assert not any(m.get("custom") for m in dispatcher.messages)  # nobody is called


@pytest.mark.asyncio
async def test_overdue_order_goes_to_a_person_with_that_reason(shop, domain, orders) -> None:
    order = orders.find(status="shipped", overdue=True)
    dispatcher, events = await _run(ActionOrderNotReceived(), domain, order)
    assert responses(dispatcher)[0] == "utter_not_received_overdue"
    handoff = dispatcher.messages[-1]["custom"]["handoff"]
    assert handoff["reason"] == "order_overdue"
    assert handoff["customer"]["email"] == order["email"]
    assert not any(e.get("event") == "pause" for e in events)  # the bridge alone decides who talks


@pytest.mark.asyncio
async def test_delivered_but_not_received_goes_to_a_person(shop, domain, orders) -> None:
    order = orders.find(status="delivered")
    dispatcher, events = await _run(ActionOrderNotReceived(), domain, order)
    assert responses(dispatcher)[0] == "utter_not_received_marked_delivered"
    assert dispatcher.messages[-1]["custom"]["handoff"]["reason"] == "delivered_not_received"
    assert not any(e.get("event") == "pause" for e in events)  # the bridge alone decides who talks


@pytest.mark.asyncio
async def test_not_yet_shipped_order_says_so(shop, domain, orders) -> None:
    order = orders.find(status="processing")
    dispatcher, events = await _run(ActionOrderNotReceived(), domain, order)
    assert responses(dispatcher) == ["utter_not_received_not_shipped"]
    assert dispatcher.messages[0]["status_label"] == "en preparación"


def test_policy_tracking_links_use_the_carrier_template() -> None:
    policy = load_policy()
    assert policy.tracking_url("SEUR", "ABC123").endswith("ABC123")
    assert policy.tracking_url("Desconocido", "ABC123") == ""
