"""Fixtures for the actions' tests: the real domain, the real store (SQLite
and PostgreSQL, seeded from the demo data) and Trackers built in each test,
as rasa-sdk's own tests do."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from core.policy import load_policy
from core.store import use_store
from core.store.sql import SqlStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml")).as_dict()


@pytest.fixture
def shop(store: SqlStore) -> Iterator[SqlStore]:
    """The seeded store, installed as the actions' store for this test."""
    load_policy.cache_clear()
    use_store(store)
    yield store
    use_store(None)
    load_policy.cache_clear()


def make_tracker(
    slots: Optional[Dict[str, Any]] = None,
    intent: str = "inform",
    text: str = "",
    entities: Iterable[Dict[str, Any]] = (),
    events: Iterable[Dict[str, Any]] = (),
    new_slots: Optional[Dict[str, Any]] = None,
    active_loop: Optional[str] = None,
    confidence: float = 0.95,
) -> Tracker:
    """A Tracker as the action server receives it. ``new_slots`` are the
    slot candidates a form appends for validation (the last events)."""
    all_slots: Dict[str, Any] = {"verification_attempts": 0.0, "brand_voice": "tu"}
    all_slots.update(slots or {})
    all_slots.update(new_slots or {})
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": list(entities),
    }
    history: List[Dict[str, Any]] = list(events) + [
        {"event": "user", "text": text, "parse_data": latest}
    ]
    history += [{"event": "slot", "name": k, "value": v} for k, v in (new_slots or {}).items()]
    return Tracker(
        sender_id="test-shopper",
        slots=all_slots,
        latest_message=latest,
        events=history,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def said(dispatcher: CollectingDispatcher) -> List[Dict[str, Any]]:
    """What the shopper is told: every message but the silent one that tells the
    bridge a shopper was verified (``{"custom": {"customer": ...}}``, checked in
    test_verification.py)."""
    return [m for m in dispatcher.messages if not (m.get("custom") or {}).get("customer")]


def responses(dispatcher: CollectingDispatcher) -> List[Optional[str]]:
    return [m.get("response") for m in said(dispatcher)]


def slot_events(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


class DemoOrders:
    """Picks demo orders by their situation, so tests never hard-code data."""

    def __init__(self, data: Dict[str, Any]) -> None:
        self.orders = data["orders"]

    def find(self, **conditions: Any) -> Dict[str, Any]:
        return self.all(**conditions)[0]

    def all(self, status: Optional[str] = None, final_sale: Optional[str] = None,
            min_delivered_days: Optional[int] = None, max_delivered_days: Optional[int] = None,
            overdue: Optional[bool] = None, has_refunds: Optional[bool] = None,
            has_returns: Optional[bool] = None, paid: Optional[bool] = None) -> List[Dict[str, Any]]:
        found = []
        for order in self.orders:
            if status and order["status"] != status:
                continue
            flags = [item["final_sale"] for item in order["items"]]
            if final_sale == "none" and any(flags):
                continue
            if final_sale == "all" and not all(flags):
                continue
            if final_sale == "some" and not (any(flags) and not all(flags)):
                continue
            days = order.get("delivered_days_ago")
            if min_delivered_days is not None and (days is None or days < min_delivered_days):
                continue
            if max_delivered_days is not None and (days is None or days > max_delivered_days):
                continue
            if overdue is not None and (order["expected_delivery_in_days"] <= -4) != overdue:
                continue
            if has_refunds is not None and bool(order.get("refunds")) != has_refunds:
                continue
            if has_returns is not None and bool(order.get("returns")) != has_returns:
                continue
            if paid is not None and bool(order.get("invoice_number")) != paid:
                continue
            found.append(order)
        assert found, f"the demo data has no order with {locals()}"
        return found


@pytest.fixture(scope="session")
def orders(demo_data: Dict[str, Any]) -> DemoOrders:
    return DemoOrders(demo_data)


def verified_slots(order: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "order_id": order["order_id"],
        "email": order["email"],
        "verified_order_id": order["order_id"],
        "verified_email": order["email"],
        "customer_id": "1",
        "customer_name": "Cliente Prueba",
    }


def today() -> dt.date:
    return load_policy().today()


class Renderer:
    """What the shopper reads: the real Rasa NLG over the real domain, with the
    policy's slots and the given brand voice (response conditions included)."""

    def __init__(self) -> None:
        from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
        from rasa.shared.core.domain import Domain

        self.domain = Domain.load(str(ROOT / "domain.yml"))
        self.nlg = TemplatedNaturalLanguageGenerator(self.domain.responses)

    async def texts(self, dispatcher: CollectingDispatcher, voice: str) -> List[str]:
        """Each message's text and button titles (structured handoff messages skipped)."""
        from rasa.shared.core.events import SlotSet
        from rasa.shared.core.trackers import DialogueStateTracker

        slots = dict(load_policy().answer_slots(), brand_voice=voice)
        tracker = DialogueStateTracker.from_events(
            "render", [SlotSet(k, v) for k, v in slots.items()], slots=self.domain.slots
        )
        rendered: List[str] = []
        for message in dispatcher.messages:
            if message.get("custom") or not message.get("response"):
                continue
            skip = ("response", "template", "text", "buttons", "elements", "image", "attachment", "custom")
            values = {k: v for k, v in message.items() if v is not None and k not in skip}
            out = await self.nlg.generate(message["response"], tracker, "collector", **values)
            assert out is not None, f"{message['response']} is not in the domain"
            titles = " / ".join(b["title"] for b in out.get("buttons") or [])
            rendered.append(f"{out.get('text') or ''} [{titles}]")
        return rendered


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    return Renderer()
