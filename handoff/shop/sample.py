"""``python -m handoff shop-event TOPIC ORDER_ID``: a sample order event,
signed with SHOP_WEBHOOK_SECRET exactly as a shop must sign its own, sent to
a bridge's ``/api/shop/events`` (docs/protocol.md, "Shop events"). For shop
developers: what their server must send, and what the bridge answers.

The body names its ``event_id`` and ``timestamp`` too, so the signature
covers them (core/shop_events.py checks they agree with the headers).
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Optional, Tuple

from core.shop_signing import body_signature

TIMEOUT_S = 10.0
# What a topic's sample says when the command line does not.
SAMPLE_CARRIER = "SEUR"
SAMPLE_DAYS = {"order.shipped": 3, "order.delayed": 5}  # the expected delivery, days from now


def sample_event(topic: str, order_id: str, event_id: str, timestamp: int, *, status: Optional[str] = None,
                 carrier: Optional[str] = None, tracking_number: Optional[str] = None,
                 expected_delivery: Optional[str] = None, amount: Optional[str] = None,
                 return_number: Optional[str] = None) -> Dict[str, Any]:
    """The body of a sample event: the given fields; ``order.shipped`` gets
    a carrier and a tracking number, it and ``order.delayed`` an expected
    date, when not given (no other topic changes what the store has)."""
    order: Dict[str, Any] = {"order_id": order_id}
    if topic == "order.shipped":
        carrier = carrier or SAMPLE_CARRIER
        tracking_number = tracking_number or f"SAMPLE{secrets.randbelow(10**9):09d}"
    if topic in SAMPLE_DAYS and not expected_delivery:
        today = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).date()
        expected_delivery = (today + dt.timedelta(days=SAMPLE_DAYS[topic])).isoformat()
    given = (("status", status), ("carrier", carrier), ("tracking_number", tracking_number),
             ("expected_delivery", expected_delivery), ("return_number", return_number))
    order.update({name: value for name, value in given if value})
    if topic == "refund.issued":
        order["refund"] = {"amount": amount or "10.00"}
    return {"event_id": event_id, "timestamp": timestamp, "topic": topic, "order": order}


def send_event(url: str, secret: str, body: Dict[str, Any]) -> Tuple[int, str]:
    """POST ``body`` signed with ``secret``; (HTTP status, answer text)."""
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=raw, method="POST", headers={
        "Content-Type": "application/json",
        "X-Shop-Hmac-Sha256": body_signature(secret, raw),
        "X-Shop-Event-Id": str(body["event_id"]),
        "X-Shop-Timestamp": str(body["timestamp"]),
    })
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def new_event_id() -> str:
    return f"sample-{int(time.time())}-{secrets.token_hex(4)}"
