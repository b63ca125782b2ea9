"""The shop's two signatures, both HMAC-SHA256 with ``SHOP_WEBHOOK_SECRET``
(docs/protocol.md, "Shop events" and "Signed identity"):

- an order event: base64 of the HMAC of the raw body (``X-Shop-Hmac-Sha256``,
  as Shopify and WooCommerce sign webhooks), with ``X-Shop-Timestamp`` at most
  ``EVENT_TOLERANCE_S`` away from now;
- a logged-in shopper: hex of the HMAC of ``email + ":" + ts`` (as Intercom
  and Chatwoot sign identities), at most ``IDENTITY_MAX_AGE_S`` old.

Every comparison is constant-time (``hmac.compare_digest``). Limits: the
event's signature covers the body only (the contract's, as Shopify's): the
headers are not signed, so a body that names its ``event_id`` and
``timestamp`` gets them checked against the headers (core/shop_events.py).
"""
from __future__ import annotations

import base64
import hashlib
import hmac

EVENT_TOLERANCE_S = 300           # X-Shop-Timestamp this far from now, either way
IDENTITY_MAX_AGE_S = 24 * 3600    # a signed identity is good for a day
IDENTITY_FUTURE_S = 300           # clocks differ: a ts up to this far ahead still counts


def body_signature(secret: str, body: bytes) -> str:
    """What ``X-Shop-Hmac-Sha256`` must hold for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def body_signed(secret: str, body: bytes, given: str) -> bool:
    """Whether ``given`` (a header, perhaps not even ASCII) is ``body``'s signature."""
    if not given.isascii():
        return False
    return hmac.compare_digest(body_signature(secret, body).encode("ascii"), given.strip().encode("ascii"))


def timestamp_fresh(timestamp: int, now_s: float) -> bool:
    return abs(now_s - timestamp) <= EVENT_TOLERANCE_S


def identity_signature(secret: str, email: str, ts: int) -> str:
    """The hex signature of a shopper's identity (made by the shop's server)."""
    message = f"{email}:{ts}".encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def identity_problem(secret: str, email: str, ts: int, signature: str, now_s: float) -> str:
    """Why an identity is not taken ("bad_signature", "stale"), or "" when it is."""
    expected = identity_signature(secret, email, ts).encode("ascii")
    if not signature.isascii() or not hmac.compare_digest(expected, signature.strip().lower().encode("ascii")):
        return "bad_signature"
    if not -IDENTITY_FUTURE_S <= now_s - ts <= IDENTITY_MAX_AGE_S:
        return "stale"
    return ""
