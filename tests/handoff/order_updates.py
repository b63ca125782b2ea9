"""What the order-update tests share: signed shop events posted to a real
bridge, the demo customer's orders, and the notification rows."""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import aiohttp

from core.shop_signing import body_signature
from core.store.types import Order
from handoff.notifications import NotificationStore
from handoff.server import BridgeServer
from tests.handoff.conftest import OPEN_TIME

SECRET = "shop-secret-for-tests"
NOW = int(OPEN_TIME.timestamp())
# a demo customer with orders processing and shipped
SHOPPER_EMAIL = "julia.mendez@correo.example"


async def post_event(port: int, event_id: str, topic: str, order: Dict[str, Any], ts: int = NOW,
                     **extra: Any) -> Tuple[int, Dict[str, Any]]:
    body = json.dumps({"topic": topic, "order": order, **extra}).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Shop-Hmac-Sha256": body_signature(SECRET, body),
               "X-Shop-Event-Id": event_id, "X-Shop-Timestamp": str(ts)}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        async with session.post(f"http://127.0.0.1:{port}/api/shop/events", data=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)


async def shopper_order(server: BridgeServer, status: str) -> Order:
    """An order of the demo customer SHOPPER_EMAIL in ``status``."""
    found = await server.bridge.store.get_customer_by_email(SHOPPER_EMAIL)
    assert found is not None
    orders = [o for o in await server.bridge.store.orders_for_customer(found.id) if o.status == status]
    assert orders, f"the demo customer has no {status} order"
    return orders[0]


async def notifications(server: BridgeServer, channel: Optional[str] = None) -> List[Dict[str, Any]]:
    rows = await NotificationStore(server.bridge.storage).rows()
    return [r for r in rows if channel is None or r["channel"] == channel]


SHIPPED = {"carrier": "SEUR", "tracking_number": "SEUR0001234567", "expected_delivery": "2025-11-28"}
