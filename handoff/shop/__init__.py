"""What the shop tells the bridge (docs/protocol.md, "Shop events" and
"Signed identity"): order events posted to ``/api/shop/events``
(events.py), the logged-in shopper's signed identity in the widget's
``start`` frame and the demo page's signer (identity.py), and the sample
event a shop developer sends with ``python -m handoff shop-event``
(sample.py); and what the customers linked to an order are told of its
events, on their channels, once (notify.py, the texts in updates.py, the
rows in handoff/notifications.py). The signatures themselves are
core/shop_signing.py's; what an event changes is the store's
(``Store.apply_shop_event``)."""
from __future__ import annotations

from typing import Dict

from handoff.bridge import Bridge
from handoff.http_endpoints import Endpoint
from handoff.shop.events import SHOP_EVENTS_PATH, ShopEventsEndpoint
from handoff.shop.identity import DEMO_IDENTITY_PATH, DemoIdentityEndpoint


def shop_endpoints(bridge: Bridge) -> Dict[str, Endpoint]:
    """The shop's HTTP endpoints on the bridge's port (handoff/http_endpoints.py)."""
    return {SHOP_EVENTS_PATH: ShopEventsEndpoint(bridge), DEMO_IDENTITY_PATH: DemoIdentityEndpoint(bridge)}


__all__ = ["shop_endpoints"]
