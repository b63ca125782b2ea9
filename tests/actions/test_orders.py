"""Order status and 'my order has not arrived', against the real store."""
from __future__ import annotations

import datetime as dt

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.orders import ActionOrderNotReceived, ActionOrderStatus
from core.policy import load_policy
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
    assert responses(dispatcher) == ["utter_verification_failed"]  # not locked: no tries were made
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


# --- a late order's status (issue 9), on a clock the test sets ---------------

DECEMBER_1 = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def seeded_at() -> dt.datetime:
    """The demo store seeded "on 1 December" (its dates are relative to this)."""
    return DECEMBER_1


def _set_clock(monkeypatch: pytest.MonkeyPatch, moment: dt.datetime) -> None:
    monkeypatch.setattr("core.policy.utc_now", lambda: moment)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of this module runs on the seeding day, whatever the real date."""
    _set_clock(monkeypatch, DECEMBER_1)


@pytest.mark.asyncio
async def test_an_overdue_order_status_apologises_and_offers_the_not_received_flow(
    shop, domain, orders, renderer, monkeypatch
) -> None:
    """Issue 9's case: expected on Friday 20 November, asked on 1 December."""
    _set_clock(monkeypatch, DECEMBER_1)
    order = next(o for o in orders.all(status="shipped") if o["expected_delivery_in_days"] == -11)
    dispatcher, _ = await _run(ActionOrderStatus(), domain, order)
    assert responses(dispatcher) == ["utter_order_status_overdue"]
    message = dispatcher.messages[0]
    assert message["expected_date"] == "viernes 20 de noviembre"
    assert message["days_late"] == 11
    [text] = await renderer.texts(dispatcher, "tu")
    assert "retraso" in text and "Lo siento" in text
    assert "en camino" not in text and "Entrega prevista" not in text
    assert order["tracking_number"] in text
    # What "mi pedido no llega" offers for it: a person who opens an incident.
    rendered = await renderer.nlg.generate(
        "utter_order_status_overdue", (await _voice_tracker(renderer, "tu")), "collector",
        **{k: v for k, v in message.items() if k not in ("response", "template", "text", "buttons")},
    )
    assert [b["payload"] for b in rendered["buttons"]] == ["/order_not_received", "/deny"]
    not_received, _ = await _run(ActionOrderNotReceived(), domain, order)
    assert responses(not_received)[0] == "utter_not_received_overdue"


async def _voice_tracker(renderer, voice: str):
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker
    return DialogueStateTracker.from_events("t", [SlotSet("brand_voice", voice)], slots=renderer.domain.slots)


@pytest.mark.asyncio
@pytest.mark.parametrize("days_after, response", [
    (0, "utter_order_status_shipped"),   # due today: on time
    (1, "utter_order_status_late"),      # late, within the grace days: apology, no person yet
    (2, "utter_order_status_late"),
    (3, "utter_order_status_overdue"),   # past the grace days: as "mi pedido no llega"
])
async def test_status_and_not_received_agree_on_when_an_order_is_overdue(
    shop, domain, orders, monkeypatch, days_after: int, response: str
) -> None:
    policy = load_policy()
    assert policy.overdue_grace_days == 2  # the parametrisation above assumes the demo policy
    order = next(o for o in orders.all(status="shipped") if o["expected_delivery_in_days"] == 0)
    _set_clock(monkeypatch, DECEMBER_1 + dt.timedelta(days=days_after))
    status, _ = await _run(ActionOrderStatus(), domain, order)
    assert responses(status) == [response]
    not_received, _ = await _run(ActionOrderNotReceived(), domain, order)
    overdue = response == "utter_order_status_overdue"
    assert (responses(not_received)[0] == "utter_not_received_overdue") is overdue
    if response == "utter_order_status_late":
        # It says from which day to come back: the first overdue day.
        assert status.messages[0]["overdue_date"] == "viernes 4 de diciembre"


@pytest.mark.asyncio
async def test_the_store_day_is_the_policy_time_zone_day(shop, domain, orders, monkeypatch) -> None:
    """23:30 UTC on 3 December is already the 4th in Madrid: overdue there."""
    order = next(o for o in orders.all(status="shipped") if o["expected_delivery_in_days"] == 0)
    _set_clock(monkeypatch, dt.datetime(2026, 12, 3, 23, 30, tzinfo=dt.timezone.utc))
    status, _ = await _run(ActionOrderStatus(), domain, order)
    assert responses(status) == ["utter_order_status_overdue"]


@pytest.mark.asyncio
async def test_an_order_out_for_delivery_is_expected_today_without_another_date(shop, domain, orders) -> None:
    """Tester's report: '¡… está en reparto hoy! … Entrega prevista: miércoles 2
    de diciembre' (tomorrow). Out for delivery arrives today, and says no other date."""
    from tests.actions.test_exchanges import rendered

    for order in orders.all(status="out_for_delivery"):
        dispatcher, _ = await _run(ActionOrderStatus(), domain, order)
        assert responses(dispatcher) == ["utter_order_status_out_for_delivery"]
        for voice in ("tu", "usted"):
            text = await rendered(domain, dispatcher.messages[0], voice)
            assert "Entrega prevista: hoy." in text and dispatcher.messages[0]["expected_date"] not in text, text


def _apology_events(angry: str) -> list:
    """An angry message answered with the frustration apology, then its flow."""
    return [
        {"event": "user", "text": angry, "parse_data": {"intent": {"name": "order_status"}, "text": angry}},
        {"event": "bot", "text": "Perdona las molestias…", "metadata": {"utter_action": "utter_frustration_apology"}},
        {"event": "action", "name": "order_status_form"},
        {"event": "active_loop", "name": "order_status_form"},
    ]


@pytest.mark.asyncio
async def test_a_late_answer_does_not_apologise_twice_in_one_flow(shop, domain, orders, renderer) -> None:
    """Walkthrough: '¡¡mi pedido no llega!!' got the frustration apology and
    then '… Lo siento mucho.' in the overdue answer of the same flow. Said
    once per flow; a later flow that is late again apologises again."""
    order = next(o for o in orders.all(status="shipped") if o["expected_delivery_in_days"] == -11)
    angry = f"¡¡¿dónde está mi pedido {order['order_id']}?!! llevo semanas esperando"
    for action in (ActionOrderStatus(), ActionOrderNotReceived()):
        plain, _ = await _run(action, domain, order)
        [first, *_] = await renderer.texts(plain, "tu")
        assert "Lo siento mucho" in first, first
        after_apology, _ = await _run(action, domain, order, events=_apology_events(angry))
        [text, *_] = await renderer.texts(after_apology, "tu")
        assert "Lo siento" not in text and "llegado el" in text and "{sorry}" not in text, text
        earlier_flow = _apology_events(angry) + [
            {"event": "active_loop", "name": None},
            {"event": "user", "text": "¿y el otro pedido?", "parse_data": {"intent": {"name": "order_status"}}},
            {"event": "action", "name": "order_status_form"},
            {"event": "active_loop", "name": "order_status_form"},
        ]
        later, _ = await _run(action, domain, order, events=earlier_flow)
        [again, *_] = await renderer.texts(later, "usted")
        assert "Lo siento mucho" in again and "Su pedido" in again, again
