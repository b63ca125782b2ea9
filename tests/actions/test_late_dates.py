"""A date the store promised that has passed is never shown as a promise:
the bot says it is late, apologises once and offers what makes sense (a
person; for an order, what "no me ha llegado" offers). On a clock the test
sets, over the real store seeded on that day."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.cancellation import ActionCancelOrder
from actions.orders import ActionOrderNotReceived, ActionOrderStatus
from actions.refunds import ActionRefundStatus
from actions.returns import ActionCreateReturn
from core.policy import load_policy
from tests.actions.conftest import make_tracker, responses, verified_slots

SEEDED = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)
# What only a date still to come may be introduced with.
PROMISES = ("llegará como tarde", "Entrega prevista", "entrega prevista es", "verás como tarde",
            "verá como tarde", "dentro del plazo de entrega")
APOLOGIES = ("Lo siento", "Siento", "Disculpa", "Disculpe", "Perdona")


@pytest.fixture
def seeded_at() -> dt.datetime:
    return SEEDED


def _set_clock(monkeypatch: pytest.MonkeyPatch, days_after_seeding: int) -> None:
    moment = SEEDED + dt.timedelta(days=days_after_seeding)
    monkeypatch.setattr("core.policy.utc_now", lambda: moment)


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_clock(monkeypatch, 0)


async def _run(action: Any, domain: Dict[str, Any], order: Dict[str, Any], **slots: Any) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, make_tracker(slots=dict(verified_slots(order), **slots)), domain)
    return dispatcher


def _buttons(dispatcher: CollectingDispatcher, renderer: Any) -> List[str]:
    return [b["payload"] for m in dispatcher.messages for b in (m.get("buttons") or [])]


def _apologies(texts: List[str]) -> int:
    return sum(text.count(word) for text in texts for word in APOLOGIES)


@pytest.mark.asyncio
@pytest.mark.parametrize("voice", ["tu", "usted"])
async def test_a_refund_past_its_date_is_late_with_one_apology_and_a_person(
    shop, domain, demo_data, renderer, voice: str
) -> None:
    order = next(o for o in demo_data["orders"]
                 if any(r["status"] != "completed" and r["expected_in_days"] < 0 for r in o.get("refunds") or []))
    dispatcher = await _run(ActionRefundStatus(), domain, order)
    assert responses(dispatcher) == ["utter_refund_status", "utter_refund_late"]
    texts = await renderer.texts(dispatcher, voice)
    body = "\n".join(texts)
    assert "llegará como tarde" not in body and "con retraso" in body, body
    assert _apologies(texts) == 1, texts
    offer = await renderer.nlg.generate("utter_refund_late", await _voice(renderer, voice), "collector",
                                        order_id=order["order_id"])
    assert [b["payload"] for b in offer["buttons"]] == ['/request_human{"handoff_reason":"refund_late"}', "/deny"]
    assert ("¿Le paso" in offer["text"]) == (voice == "usted")


@pytest.mark.asyncio
async def test_a_refund_still_due_is_said_as_a_promise(shop, domain, demo_data, renderer) -> None:
    order = next(o for o in demo_data["orders"]
                 if o.get("refunds") and all(r["status"] != "completed" and r["expected_in_days"] > 0
                                             for r in o["refunds"]))
    dispatcher = await _run(ActionRefundStatus(), domain, order)
    assert "utter_refund_late" not in responses(dispatcher)
    assert "llegará como tarde" in dispatcher.messages[0]["refunds"]


@pytest.mark.asyncio
async def test_a_cancelled_order_whose_refund_is_late_says_so_in_its_status(
    shop, domain, demo_data, monkeypatch, renderer
) -> None:
    order = next(o for o in demo_data["orders"] if o["status"] == "cancelled"
                 and any(r["status"] == "pending" for r in o.get("refunds") or []))
    due = max(r["expected_in_days"] for r in order["refunds"])
    _set_clock(monkeypatch, due + 1)
    dispatcher = await _run(ActionOrderStatus(), domain, order)
    assert responses(dispatcher) == ["utter_order_status_cancelled", "utter_refund_late"]
    texts = await renderer.texts(dispatcher, "tu")
    assert "con retraso" in texts[0] and "llegará como tarde" not in texts[0], texts
    # the same for "cancel it" on a cancelled order, and "no me ha llegado"
    for action, first in ((ActionCancelOrder(), "utter_cancel_not_possible_closed"),
                          (ActionOrderNotReceived(), "utter_not_received_closed")):
        other = await _run(action, domain, order)
        assert responses(other) == [first, "utter_refund_late"]


@pytest.mark.asyncio
@pytest.mark.parametrize("voice", ["tu", "usted"])
async def test_an_order_in_preparation_past_its_date_is_late_and_a_person_offered(
    shop, domain, demo_data, monkeypatch, renderer, voice: str
) -> None:
    order = next(o for o in demo_data["orders"] if o["status"] == "processing")
    _set_clock(monkeypatch, order["expected_delivery_in_days"] + 1)
    status = await _run(ActionOrderStatus(), domain, order)
    assert responses(status) == ["utter_order_status_processing_late"]
    texts = await renderer.texts(status, voice)
    assert "Entrega prevista" not in texts[0] and "retraso" in texts[0], texts
    assert _apologies(texts) == 1
    assert ("¿Le paso" in texts[0]) == (voice == "usted")
    # what "no me ha llegado" does for it: a person, with that reason
    not_received = await _run(ActionOrderNotReceived(), domain, order)
    assert responses(not_received)[0] == "utter_not_received_not_shipped_late"
    assert not_received.messages[-1]["custom"]["handoff"]["reason"] == "order_late_not_shipped"
    said = await renderer.texts(not_received, voice)
    assert "prevista" not in said[0] and "retraso" in said[0], said


@pytest.mark.asyncio
async def test_an_order_in_transit_late_within_the_grace_days_is_not_said_within_its_window(
    shop, domain, demo_data, monkeypatch, renderer
) -> None:
    order = next(o for o in demo_data["orders"] if o["status"] == "shipped" and o["expected_delivery_in_days"] == 0)
    _set_clock(monkeypatch, 1)
    dispatcher = await _run(ActionOrderNotReceived(), domain, order)
    assert responses(dispatcher) == ["utter_not_received_late"]
    [text] = await renderer.texts(dispatcher, "tu")
    assert "retraso" in text and "llegará como tarde" not in text and "dentro del plazo" not in text, text
    assert "viernes 4 de diciembre" in text  # from when a person opens an incident (the first overdue day)


@pytest.mark.asyncio
async def test_no_answer_shows_a_past_date_as_a_promise(shop, domain, demo_data, monkeypatch, renderer) -> None:
    """A month after seeding every date of the demo store has passed: no
    answer about any order may still introduce one as to come."""
    latest = max([o["expected_delivery_in_days"] for o in demo_data["orders"]]
                 + [r["expected_in_days"] for o in demo_data["orders"] for r in o.get("refunds") or []])
    _set_clock(monkeypatch, latest + 1)
    assert latest + 1 > load_policy().overdue_grace_days
    by_status: Dict[str, List[Dict[str, Any]]] = {}
    for order in demo_data["orders"]:
        by_status.setdefault(order["status"], []).append(order)
    for status, found in by_status.items():
        for order in found[:4] + [o for o in found if o.get("refunds")][:3]:
            for action in (ActionOrderStatus(), ActionOrderNotReceived(), ActionRefundStatus(),
                           ActionCancelOrder(), ActionCreateReturn()):
                dispatcher = await _run(action, domain, order)
                for voice in ("tu", "usted"):
                    for text in await renderer.texts(dispatcher, voice):
                        assert not any(p in text for p in PROMISES), (status, order["order_id"], action.name(), text)


async def _voice(renderer: Any, voice: str) -> Any:
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker
    return DialogueStateTracker.from_events("t", [SlotSet("brand_voice", voice)], slots=renderer.domain.slots)
