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
SAMPLE_DAYS = {"order.shipped": 3, "order.out_for_delivery": 0, "order.delayed": 5}


def sample_event(topic: str, order_id: str, event_id: str, timestamp: int, *, status: Optional[str] = None,
                 carrier: Optional[str] = None, tracking_number: Optional[str] = None,
                 expected_delivery: Optional[str] = None, amount: Optional[str] = None,
                 return_number: Optional[str] = None) -> Dict[str, Any]:
    """The body of a sample event: the given fields, and for a shipping topic
    a carrier, a tracking number and an expected date when not given."""
    order: Dict[str, Any] = {"order_id": order_id}
    if status:
        order["status"] = status
    if topic in SAMPLE_DAYS:
        today = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).date()
        order["carrier"] = carrier or SAMPLE_CARRIER
        order["tracking_number"] = tracking_number or f"SAMPLE{secrets.randbelow(10**9):09d}"
        order["expected_delivery"] = expected_delivery or (today + dt.timedelta(days=SAMPLE_DAYS[topic])).isoformat()
    else:
        order.update({k: v for k, v in (("carrier", carrier), ("tracking_number", tracking_number),
                                         ("expected_delivery", expected_delivery)) if v})
    if return_number:
        order["return_number"] = return_number
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
