"""The shop's signed word for a logged-in shopper (docs/protocol.md, "Signed
identity"): the widget's ``start`` frame carries ``"identity": {"email",
"name", "ts", "signature"}``; a valid one at most a day old verifies the
conversation for that store customer the way a Telegram chat's own phone
does (``Bridge.verify_customer``: the link, the case card's customer, and the
Rasa slots that make the bot's forms skip the e-mail question).

Anything else is ignored, never answered with an error (the shopper's page
must not learn whether an e-mail is a customer's), and logged with a reason
and no e-mail. A resumed conversation already linked to another customer
keeps that link (the widget starts a new session when the identified e-mail
changes). ``GET /demo/identity?email=`` signs any e-mail for the demo page,
only with HANDOFF_DEMO_IDENTITY=on.
"""
from __future__ import annotations

import http
import logging
import re
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from websockets.legacy.server import HTTPResponse

from core.shop_signing import identity_problem, identity_signature
from core.store import StoreError
from handoff.bridge import Bridge, customer_proof
from handoff.frames import EMAIL
from handoff.http_endpoints import Request, json_response
from handoff.storage import Conversation, StorageError

DEMO_IDENTITY_PATH = "/demo/identity"
HEX_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")
logger = logging.getLogger("handoff.shop")


@dataclass(frozen=True)
class Identity:
    email: str
    name: str
    ts: int
    signature: str


def parse_identity(raw: Any) -> Optional[Identity]:
    """The identity's fields if they have the contract's shapes (``ts`` Unix
    seconds, as a number or digits; a printable e-mail, a hex signature),
    else None. The start frame's parser checks only that it is an object."""
    if not isinstance(raw, dict):
        return None
    email, name, ts, signature = raw.get("email"), raw.get("name", ""), raw.get("ts"), raw.get("signature")
    if isinstance(ts, str) and ts.isascii() and ts.isdigit() and len(ts) <= 12:
        ts = int(ts)
    if (not isinstance(email, str) or not email.isprintable() or not EMAIL.match(email) or len(email) > 254
            or not isinstance(name, (str, type(None))) or not isinstance(ts, int) or isinstance(ts, bool)
            or not isinstance(signature, str) or not HEX_SIGNATURE.match(signature)):
        return None
    return Identity(email=email, name=(name or "")[:200], ts=ts, signature=signature)


def _ignored(bridge: Bridge, conversation: Conversation, reason: str) -> bool:
    logger.info("shop_identity_ignored", extra={"conversation_id": conversation.id, "reason": reason})
    bridge.metrics.shop_identities.labels(reason).inc()
    return False


async def apply_identity(bridge: Bridge, conversation: Conversation, raw: Any) -> bool:
    """Verify ``conversation`` for the identity's customer if the identity
    is valid and fresh; whether it was (or already is) verified so."""
    secret = bridge.settings.shop_webhook_secret
    if not secret:
        return _ignored(bridge, conversation, "off")
    identity = parse_identity(raw)
    if identity is None:
        return _ignored(bridge, conversation, "malformed")
    problem = identity_problem(secret, identity.email, identity.ts, identity.signature, bridge.clock().timestamp())
    if problem:
        return _ignored(bridge, conversation, problem)
    try:
        customer = await bridge.store.get_customer_by_email(identity.email)
    except StoreError as exc:
        logger.warning("shop_identity_store_failed", extra={"conversation_id": conversation.id,
                                                            "error": type(exc).__name__})
        return False
    if customer is None:
        return _ignored(bridge, conversation, "unknown_customer")
    if conversation.customer_id not in (None, str(customer.id)):
        return _ignored(bridge, conversation, "other_customer")
    if conversation.customer_id == str(customer.id) and conversation.customer_linked_by == "shop_identity":
        return True  # a reconnection: already verified so
    try:
        await bridge.verify_customer(conversation.id, *customer_proof(customer, "shop_identity"))
    except StorageError as exc:
        logger.warning("shop_identity_store_failed", extra={"conversation_id": conversation.id, "error": str(exc)})
        return False
    bridge.metrics.shop_identities.labels("verified").inc()
    return True


class DemoIdentityEndpoint:
    """``GET /demo/identity?email=``: what the shop's server would compute
    (``{"email","name","ts","signature"}``), for the demo page's logged-in
    mode; without ``email``, ``{"enabled": true}`` (the page shows the
    mode). 404 unless HANDOFF_DEMO_IDENTITY=on; 503 without the secret."""

    max_body_bytes = 0

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    async def answer(self, request: Request) -> HTTPResponse:
        settings = self.bridge.settings
        if not settings.demo_identity:
            return json_response(http.HTTPStatus.NOT_FOUND, {"error": "not_found", "detail": "demo identity is off"})
        if request.method != "GET":
            return json_response(http.HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method_not_allowed", "detail": "GET"},
                                 (("Allow", "GET"),))
        if not settings.shop_webhook_secret:
            return json_response(http.HTTPStatus.SERVICE_UNAVAILABLE, {
                "error": "shop_identity_off", "detail": "set SHOP_WEBHOOK_SECRET on the bridge"})
        query = parse_qs(urlsplit(request.path).query)
        email = (query.get("email") or [""])[0].strip()
        if not email:
            return json_response(http.HTTPStatus.OK, {"enabled": True})
        if not EMAIL.match(email) or len(email) > 254:
            return json_response(http.HTTPStatus.BAD_REQUEST, {"error": "invalid_email",
                                                               "detail": "Ese correo electrónico no parece válido."})
        ts = int(self.bridge.clock().timestamp())
        return json_response(http.HTTPStatus.OK, {
            "email": email, "name": (query.get("name") or [""])[0][:200], "ts": ts,
            "signature": identity_signature(settings.shop_webhook_secret, email, ts)})
