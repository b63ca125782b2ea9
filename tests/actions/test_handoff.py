"""The structured handoff message; Rasa is never paused (the bridge owns who talks)."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionFallback, ActionHandoff
from actions.issues import ActionReportIssue
from tests.actions.conftest import make_tracker, responses, verified_slots


def _user(intent: str, confidence: float = 0.9):
    return {"event": "user", "text": "x", "parse_data": {"intent": {"name": intent, "confidence": confidence}}}


@pytest.mark.asyncio
async def test_request_human_emits_the_context_and_never_pauses(shop, domain, orders) -> None:
    order = orders.find(status="shipped")
    tracker = make_tracker(slots=verified_slots(order), intent="request_human", text="quiero un agente",
                           events=[_user("order_status", 0.88)])
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff().run(dispatcher, tracker, domain)
    assert responses(dispatcher)[0] == "utter_handoff"
    handoff = dispatcher.messages[-1]["custom"]["handoff"]
    assert handoff["reason"] == "customer_request"
    assert handoff["last_intent"] == "request_human"
    assert [i["name"] for i in handoff["intents"]] == ["request_human", "order_status"]
    assert handoff["intents"][1]["confidence"] == 0.88
    assert handoff["entities"]["order_id"] == order["order_id"]
    assert handoff["customer"]["email"] == order["email"]
    kinds = [e["event"] for e in events]
    assert "pause" not in kinds
    assert {"event": "active_loop", "name": None, "timestamp": None} in events


@pytest.mark.asyncio
async def test_unverified_shopper_is_handed_over_without_customer_data(shop, domain, orders) -> None:
    order = orders.find(status="shipped")
    tracker = make_tracker(slots={"order_id": order["order_id"], "email": order["email"]}, intent="complaint")
    dispatcher = CollectingDispatcher()
    await ActionHandoff().run(dispatcher, tracker, domain)
    handoff = dispatcher.messages[-1]["custom"]["handoff"]
    assert handoff["reason"] == "complaint"
    assert handoff["customer"] is None


@pytest.mark.asyncio
async def test_button_reason_is_carried_over(shop, domain) -> None:
    tracker = make_tracker(intent="request_human", entities=[{"entity": "handoff_reason", "value": "verification_failed"}])
    dispatcher = CollectingDispatcher()
    await ActionHandoff().run(dispatcher, tracker, domain)
    assert dispatcher.messages[-1]["custom"]["handoff"]["reason"] == "verification_failed"


@pytest.mark.asyncio
async def test_first_fallback_asks_again_the_second_hands_over(shop, domain) -> None:
    once = CollectingDispatcher()
    events = await ActionFallback().run(once, make_tracker(intent="nlu_fallback", events=[_user("greet")]), domain)
    assert responses(once) == ["utter_default"] and events == []
    twice = CollectingDispatcher()
    events = await ActionFallback().run(twice, make_tracker(intent="nlu_fallback", events=[_user("nlu_fallback", 0.2)]), domain)
    assert twice.messages[-1]["custom"]["handoff"]["reason"] == "fallback"
    assert "pause" not in [e["event"] for e in events]


@pytest.mark.asyncio
async def test_damaged_item_hands_over_with_the_description(shop, domain, orders) -> None:
    order = orders.find(status="delivered")
    tracker = make_tracker(
        slots=dict(verified_slots(order), issue_description="la taza llegó rota"),
        events=[{"event": "active_loop", "name": "damaged_form"}],
    )
    dispatcher = CollectingDispatcher()
    await ActionReportIssue().run(dispatcher, tracker, domain)
    handoff = dispatcher.messages[-1]["custom"]["handoff"]
    assert handoff["reason"] == "damaged_or_wrong_item"
    assert handoff["details"]["description"] == "la taza llegó rota"
    assert handoff["details"]["order_id"] == order["order_id"]


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ["ana.garcia@correo.example", "es el 482913", "482913 ana.garcia@correo.example"])
async def test_another_try_after_the_lock_gets_the_lock_not_the_fallback(domain, text: str) -> None:
    """Tester's report: after three failed tries, the right email got 'no te he entendido'."""
    from actions.verification import MAX_ATTEMPTS

    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"verification_attempts": float(MAX_ATTEMPTS)}, intent="inform", text=text,
                           events=[_user("nlu_fallback", 0.2)])
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_verification_locked"]
    assert dispatcher.messages[0]["max_attempts"] == MAX_ATTEMPTS
    assert events == []  # no handoff without the shopper's yes


@pytest.mark.asyncio
async def test_order_data_without_a_lock_is_the_usual_fallback(domain) -> None:
    dispatcher = CollectingDispatcher()
    await ActionFallback().run(dispatcher, make_tracker(intent="inform", text="ana@correo.example"), domain)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_default"]


@pytest.mark.asyncio
async def test_a_first_message_asking_for_a_person_is_not_told_what_we_talked_about(shop, domain) -> None:
    """«quiero hablar con una persona» as the very first message got «Le dejo
    todo lo que hemos hablado» (walkthrough): nothing had been said."""
    first = CollectingDispatcher()
    await ActionHandoff().run(first, make_tracker(intent="request_human", text="quiero hablar con una persona"), domain)
    assert responses(first)[0] == "utter_handoff_first"
    later = CollectingDispatcher()
    await ActionHandoff().run(later, make_tracker(intent="request_human", events=[_user("order_status")]), domain)
    assert responses(later)[0] == "utter_handoff"
    again = CollectingDispatcher()
    await ActionHandoff().run(again, make_tracker(intent="request_human", events=[
        _user("order_status"), {"event": "session_started"}]), domain)
    assert responses(again)[0] == "utter_handoff_first"


@pytest.mark.asyncio
@pytest.mark.parametrize("events, first", [
    ([], "order_status"),
    ([{"event": "active_loop", "name": "cancel_form"}, {"event": "active_loop", "name": None}], "order_cancel"),
])
async def test_a_bare_order_number_with_no_form_asks_what_to_do_with_it(domain, events, first) -> None:
    """Walkthrough: "600828" got «no te he entendido» while the number was
    taken; "y el otro 989057?" after a cancellation went to a person. The
    shopper picks the task, the last one first."""
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent="inform", text="y el otro 989057?", events=events,
                           entities=[{"entity": "order_id", "value": "989057"}])
    assert await ActionFallback().run(dispatcher, tracker, domain) == []
    assert responses(dispatcher) == ["utter_order_what_to_do"]
    payloads = [b["payload"] for b in dispatcher.messages[0]["buttons"]]
    assert payloads[0] == f'/{first}{{"order_id":"989057"}}'
    assert '/request_human{"handoff_reason":"customer_request"}' in payloads


@pytest.mark.asyncio
@pytest.mark.parametrize("form, reason", [("payment_form", "payment_problem"), ("damaged_form", "damaged_or_wrong_item")])
@pytest.mark.parametrize("entities", [[], [{"entity": "handoff_reason", "value": "customer_request"}]])
async def test_asking_for_a_person_while_reporting_an_issue_keeps_its_reason(
        shop, domain, orders, form: str, reason: str, entities) -> None:
    """Walkthrough (Telegram): «me han cobrado dos veces», then /agente at the
    order-number question: the agents read «Pide hablar con una persona», the
    payment problem and its description gone."""
    description = "me han cobrado dos veces el pedido" if form == "payment_form" else "la taza llegó rota"
    tracker = make_tracker(intent="request_human", text="/request_human", entities=entities, active_loop=form,
                           slots={"requested_slot": "order_id"},
                           events=[{"event": "user", "text": description,
                                    "parse_data": {"intent": {"name": reason, "confidence": 0.9}}},
                                   {"event": "active_loop", "name": form}])
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff().run(dispatcher, tracker, domain)
    handoff = dispatcher.messages[-1]["custom"]["handoff"]
    assert handoff["reason"] == reason
    assert handoff["details"]["description"] == description and handoff["details"]["verified"] is False
    assert {"event": "active_loop", "name": None, "timestamp": None} in events  # the form ends: one handoff


@pytest.mark.asyncio
async def test_a_buttons_specific_reason_still_wins_inside_an_issue_form(shop, domain) -> None:
    tracker = make_tracker(intent="request_human", active_loop="payment_form",
                           entities=[{"entity": "handoff_reason", "value": "verification_failed"}])
    dispatcher = CollectingDispatcher()
    await ActionHandoff().run(dispatcher, tracker, domain)
    assert dispatcher.messages[-1]["custom"]["handoff"]["reason"] == "verification_failed"
