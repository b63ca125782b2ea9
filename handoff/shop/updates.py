"""What a customer is told of an order event: the short Spanish text in the
store's voice (handoff/texts.py ``upd_*``) and its buttons. Pure: the
order as the store has it after the event, the event, the policy.

Buttons: «¿Dónde está ahora?» asks the bot for the order's status (the
``order_status`` intent with the order number), «¿Cuándo llega mi
reembolso?» the refund's, and «Hablar con una persona» asks for a person.
Limits: ``return.received`` and ``refund.issued`` name the return when the
event does; an order without a shipment gets no tracking line.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, List, Optional

from core.formatting import date_es, money_es
from core.policy import StorePolicy
from core.store.types import Order, ShopEvent
from handoff.bridge.base import HUMAN_BUTTON
from handoff.texts import Texts

LATE_TOPIC = "order.late"  # the leader's check found a shipped order past its date


def event_key(event: ShopEvent) -> str:
    """The key a customer is told an event once by: a delay once per order
    and new date (however many events say it), anything else per event id."""
    if event.topic == "order.delayed" and event.expected_delivery is not None:
        return f"delay:{event.order_id}:{event.expected_delivery.isoformat()}"
    return f"e:{event.event_id}"


def late_key(order_id: str, expected: dt.date) -> str:
    return f"late:{order_id}:{expected.isoformat()}"


def _payload(intent: str, order_id: str) -> str:
    return "/" + intent + json.dumps({"order_id": order_id}, separators=(",", ":"))


def _buttons(texts: Texts, order_id: str, refund: bool) -> List[Dict[str, str]]:
    first = ({"title": texts["btn_refund_when"], "payload": _payload("refund_status", order_id)} if refund
             else {"title": texts["btn_where_now"], "payload": _payload("order_status", order_id)})
    return [first, dict(HUMAN_BUTTON)]


def _tracking(texts: Texts, order: Order, policy: StorePolicy) -> str:
    ship = order.shipment
    if ship is None:
        return ""
    line = texts.get("upd_tracking", carrier=ship.carrier, tracking=ship.tracking_number)
    url = policy.tracking_url(ship.carrier, ship.tracking_number)
    return line + (texts.get("upd_tracking_url", url=url) if url else "")


def update_body(event: ShopEvent, order: Order, texts: Texts, policy: StorePolicy,
                today: dt.date) -> Optional[Dict[str, Any]]:
    """``{"text", "buttons", "order_id", "topic"}`` for the event, or None
    when it is nothing to tell (a topic without a message)."""
    order_id = order.order_id
    when = date_es(event.expected_delivery or order.expected_delivery, today)
    refund = False
    if event.topic == "order.shipped":
        text = texts.get("upd_shipped", order=order_id, date=when) + _tracking(texts, order, policy)
    elif event.topic == "order.out_for_delivery":
        text = texts.get("upd_out_for_delivery", order=order_id) + _tracking(texts, order, policy)
    elif event.topic == "order.delivered":
        text = texts.get("upd_delivered", order=order_id)
    elif event.topic == "order.delayed":
        text = texts.get("upd_delayed", order=order_id, date=when) + _tracking(texts, order, policy)
    elif event.topic == "refund.issued" and event.refund is not None:
        refund = True
        text = texts.get("upd_refund", order=order_id, amount=money_es(event.refund.amount, policy.currency))
        if event.refund.expected_at is not None:
            text += texts.get("upd_refund_when", date=date_es(event.refund.expected_at, today))
    elif event.topic == "return.received":
        text = texts.get("upd_return_received", order=order_id, ret=event.return_number or "")
        text = text.replace("  ", " ")
        refund = True
    else:
        return None
    return {"text": text, "buttons": _buttons(texts, order_id, refund), "order_id": order_id, "topic": event.topic}


def late_body(order: Order, texts: Texts, policy: StorePolicy, today: dt.date) -> Dict[str, Any]:
    """The apology for a shipped order past its date plus the grace days."""
    text = (texts.get("upd_late", order=order.order_id, date=date_es(order.expected_delivery, today))
            + _tracking(texts, order, policy))
    return {"text": text, "buttons": _buttons(texts, order.order_id, False), "order_id": order.order_id,
            "topic": LATE_TOPIC}
