"""``POST /api/shop/events``: a shop's signed order event, checked and
applied to the store once per event id (docs/protocol.md, "Shop events").

The answers, in the order they are checked (a shop retries on anything but
2xx, so only what a retry can fix is left to retry):
503 ``shop_events_off`` (SHOP_WEBHOOK_SECRET unset), 405 not POST, 411 no
Content-Length, 413 over SHOP_EVENTS_MAX_BYTES, 401 ``missing_signature`` /
``bad_signature`` / ``bad_timestamp`` / ``stale_timestamp``, 400 for the
event id or body (``invalid_event_id``, ``invalid_json``, ``unknown_topic``,
``invalid_field``, ``*_mismatch``), 404 ``unknown_order`` / ``unknown_return``
and 422 ``incomplete_event`` (nothing recorded: a retry once the store has the
order applies it), 503 ``storage_unavailable`` with Retry-After, and 200
``applied`` or ``duplicate`` (the same id again: nothing done).
"""
from __future__ import annotations

import http
import logging
from typing import Any, Optional, Tuple

from websockets.legacy.server import HTTPResponse

from core.shop_events import ShopEventInvalid, parse_event, parse_event_id
from core.shop_signing import body_signed, timestamp_fresh
from core.store.errors import IncompleteEvent, StoreUnavailable, UnknownOrder, UnknownReturn
from handoff.bridge import Bridge
from handoff.http_endpoints import Request, json_response, single
from handoff.notifications import NOTIFY_SIGNAL
from handoff.storage import StorageError

SHOP_EVENTS_PATH = "/api/shop/events"
logger = logging.getLogger("handoff.shop")
Status = http.HTTPStatus


def _error(status: http.HTTPStatus, code: str, detail: str, *extra: tuple) -> HTTPResponse:
    return json_response(status, {"error": code, "detail": detail}, tuple(extra))


class ShopEventsEndpoint:
    """The shop's order events (the module docstring lists the answers)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.max_body_bytes = bridge.settings.shop_events_max_bytes

    async def answer(self, request: Request) -> HTTPResponse:
        refused = self._refused(request)
        if refused is not None:
            status, code, detail, *extra = refused
            logger.warning("shop_event_refused", extra={"status": status.value, "error": code})
            self.bridge.metrics.shop_events.labels(code).inc()
            return _error(status, code, detail, *extra)
        assert request.body is not None
        timestamp = int(single(request.headers, "X-Shop-Timestamp"))
        try:
            event_id = parse_event_id(single(request.headers, "X-Shop-Event-Id"))
            event = parse_event(request.body, event_id, timestamp)
        except ShopEventInvalid as exc:
            logger.warning("shop_event_refused", extra={"status": 400, "error": exc.code})
            self.bridge.metrics.shop_events.labels(exc.code).inc()
            return _error(Status.BAD_REQUEST, exc.code, exc.detail)
        try:
            outcome = await self.bridge.store.apply_shop_event(event)
        except UnknownOrder:
            return self._not_applied(event_id, Status.NOT_FOUND, "unknown_order",
                                     f"the store has no order {event.order_id} (not recorded: a retry can apply it)")
        except UnknownReturn:
            return self._not_applied(event_id, Status.NOT_FOUND, "unknown_return",
                                     f"order {event.order_id} has no such return (not recorded)")
        except IncompleteEvent as exc:
            return self._not_applied(event_id, Status.UNPROCESSABLE_ENTITY, "incomplete_event", str(exc))
        except StoreUnavailable as exc:
            logger.error("storage_error", extra={"error": str(exc)})
            self.bridge.metrics.shop_events.labels("storage_unavailable").inc()
            return _error(Status.SERVICE_UNAVAILABLE, "storage_unavailable", "database unavailable; retry",
                          ("Retry-After", "5"))
        self.bridge.metrics.shop_events.labels("applied" if outcome.applied else "duplicate").inc()
        if not outcome.applied:
            logger.info("shop_event_repeated", extra={"event_id": event_id, "topic": event.topic})
            return json_response(Status.OK, {"status": "duplicate", "event_id": event_id})
        assert outcome.order is not None
        await self._notify()
        logger.info("shop_event_applied", extra={"event_id": event_id, "topic": event.topic,
                                                 "order_id": event.order_id, "order_status": outcome.order.status})
        return json_response(Status.OK, {"status": "applied", "event_id": event_id, "order_id": event.order_id,
                                         "order_status": outcome.order.status})

    async def _notify(self) -> None:
        """Wake the leader's order updates (handoff/shop/notify.py); a lost
        wake-up only delays them (the leader also looks every 30 s)."""
        try:
            await self.bridge.signal(NOTIFY_SIGNAL)
        except StorageError as exc:  # ClusterError: Redis unreachable
            logger.warning("shop_notify_signal_failed", extra={"error": str(exc)})

    def _refused(self, request: Request) -> Optional[Tuple[Any, ...]]:
        """The checks made before the body is read as JSON: (status, code,
        detail, extra headers...) of the refusal, or None."""
        secret = self.bridge.settings.shop_webhook_secret
        if not secret:
            return (Status.SERVICE_UNAVAILABLE, "shop_events_off",
                    "shop events are off: set SHOP_WEBHOOK_SECRET on the bridge")
        if request.method != "POST":
            return (Status.METHOD_NOT_ALLOWED, "method_not_allowed", "POST only", ("Allow", "POST"))
        if request.declared_length is None:
            return (Status.LENGTH_REQUIRED, "length_required", "send the body with Content-Length")
        if request.declared_length > self.max_body_bytes or request.body is None:
            return (Status.REQUEST_ENTITY_TOO_LARGE, "too_large",
                    f"the body may have at most {self.max_body_bytes} bytes")
        signature = single(request.headers, "X-Shop-Hmac-Sha256")
        if not signature:
            return (Status.UNAUTHORIZED, "missing_signature", "X-Shop-Hmac-Sha256 is missing")
        if not body_signed(secret, request.body, signature):
            return (Status.UNAUTHORIZED, "bad_signature",
                    "X-Shop-Hmac-Sha256 is not the base64 HMAC-SHA256 of the body with the shared secret")
        raw_ts = single(request.headers, "X-Shop-Timestamp")
        if not (raw_ts.isascii() and raw_ts.isdigit()) or len(raw_ts) > 12:
            return (Status.UNAUTHORIZED, "bad_timestamp", "X-Shop-Timestamp must be Unix seconds")
        if not timestamp_fresh(int(raw_ts), self.bridge.clock().timestamp()):
            return (Status.UNAUTHORIZED, "stale_timestamp",
                    "X-Shop-Timestamp is more than 300 s from the bridge's clock")
        return None

    def _not_applied(self, event_id: str, status: http.HTTPStatus, code: str, detail: str) -> HTTPResponse:
        logger.info("shop_event_not_applied", extra={"event_id": event_id, "error": code})
        self.bridge.metrics.shop_events.labels(code).inc()
        return _error(status, code, detail)
