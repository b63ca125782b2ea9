"""A shop's order event, from its raw JSON body to the store's ``ShopEvent``
(docs/protocol.md, "Shop events"): the topic, the order's fields and their
types, each refused with its own ``ShopEventInvalid`` (a 400 for the shop,
naming the field). Data only: applying it is the store's
(``Store.apply_shop_event``), signatures are core/shop_signing.py's.

Limits: the values are checked against the store's columns (an order id of
6 digits, a carrier of 30 characters, a tracking number of 40); a status must
be one of the store's (``ORDER_STATUSES``); dates are ISO 8601 (a datetime
without a zone is UTC). Fields the contract does not name are ignored (and
kept in ``payload``).
"""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Dict, Optional, TypeVar

from core.store.types import ORDER_STATUSES, SHOP_EVENT_TOPICS, RefundIssued, ShopEvent

EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
ORDER_ID = re.compile(r"^\d{6}$")
RETURN_NUMBER = re.compile(r"^DEV-\d{6}$")
T = TypeVar("T")


class ShopEventInvalid(ValueError):
    """The body (or a header) is not an event the store can take; ``code``
    and ``detail`` go back to the shop."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def parse_event_id(raw: str) -> str:
    if not EVENT_ID.match(raw or ""):
        raise ShopEventInvalid("invalid_event_id", "X-Shop-Event-Id must be 1-100 of A-Z a-z 0-9 . _ : -")
    return raw


def parse_event(body: bytes, event_id: str, timestamp: int) -> ShopEvent:
    """The event of a signed body (``event_id`` and ``timestamp`` from its
    headers; a body that names them too must agree)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ShopEventInvalid("invalid_json", "the body is not UTF-8 JSON") from exc
    if not isinstance(data, dict):
        raise ShopEventInvalid("invalid_json", "the body must be a JSON object")
    if "event_id" in data and data["event_id"] != event_id:
        raise ShopEventInvalid("event_id_mismatch", "the body's event_id is not X-Shop-Event-Id")
    if "timestamp" in data and data["timestamp"] != timestamp:
        raise ShopEventInvalid("timestamp_mismatch", "the body's timestamp is not X-Shop-Timestamp")
    topic = data.get("topic")
    if topic not in SHOP_EVENT_TOPICS:
        raise ShopEventInvalid("unknown_topic", "topic must be one of " + ", ".join(SHOP_EVENT_TOPICS))
    order = data.get("order")
    if not isinstance(order, dict):
        raise ShopEventInvalid("invalid_field", "order must be an object")
    order_id = _text(order, "order_id", 6, required=True)
    if not ORDER_ID.match(order_id or ""):
        raise ShopEventInvalid("invalid_field", "order.order_id must be the store's 6-digit order number")
    status = _text(order, "status", 30)
    if status is not None and status not in ORDER_STATUSES:
        raise ShopEventInvalid("invalid_field", "order.status must be one of " + ", ".join(ORDER_STATUSES))
    return_number = _text(order, "return_number", 10)
    if return_number is not None and not RETURN_NUMBER.match(return_number):
        raise ShopEventInvalid("invalid_field", "order.return_number must look like DEV-123456")
    expected = _date(order, "expected_delivery")
    if topic == "order.delayed" and expected is None:
        raise ShopEventInvalid("invalid_field", "order.delayed needs order.expected_delivery (the new date)")
    refund = _refund(order.get("refund")) if topic == "refund.issued" else None
    return ShopEvent(
        event_id=event_id, topic=topic, order_id=str(order_id),
        occurred_at=dt.datetime.fromtimestamp(timestamp, dt.timezone.utc), payload=body.decode("utf-8"),
        status=status, carrier=_text(order, "carrier", 30), tracking_number=_text(order, "tracking_number", 40),
        expected_delivery=expected, shipped_at=_datetime(order, "shipped_at"),
        delivered_at=_datetime(order, "delivered_at"), return_number=return_number, refund=refund,
    )


def _refund(raw: Any) -> RefundIssued:
    if not isinstance(raw, dict):
        raise ShopEventInvalid("invalid_field", "refund.issued needs order.refund {\"amount\": \"59.90\", ...}")
    try:
        amount = Decimal(str(raw.get("amount")))
    except InvalidOperation as exc:
        raise ShopEventInvalid("invalid_field", "order.refund.amount must be a number") from exc
    if isinstance(raw.get("amount"), bool) or not amount.is_finite() or not Decimal(0) < amount < Decimal(10) ** 8:
        raise ShopEventInvalid("invalid_field", "order.refund.amount must be a positive amount")
    return RefundIssued(amount=amount.quantize(Decimal("0.01")), issued_at=_datetime(raw, "issued_at", "order.refund."),
                        expected_at=_date(raw, "expected_at", "order.refund."))


def _text(data: Dict[str, Any], name: str, longest: int, required: bool = False) -> Optional[str]:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ShopEventInvalid("invalid_field", f"order.{name} is required")
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ShopEventInvalid("invalid_field", f"order.{name} must be a string")
    text = str(value).strip()
    if not text.isprintable() or len(text) > longest:
        raise ShopEventInvalid("invalid_field", f"order.{name} must be printable text of at most {longest} characters")
    return text


def _iso(data: Dict[str, Any], name: str, where: str, parse: Callable[[str], T], what: str) -> Optional[T]:
    """The field parsed from its ISO 8601 text; None when absent; a 400 naming it otherwise."""
    value = data.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return parse(value)
    except ValueError as exc:
        raise ShopEventInvalid("invalid_field", f"{where}{name} must be {what}") from exc


def _date(data: Dict[str, Any], name: str, where: str = "order.") -> Optional[dt.date]:
    return _iso(data, name, where, lambda text: dt.date.fromisoformat(text[:10]), "a date, YYYY-MM-DD")


def _datetime(data: Dict[str, Any], name: str, where: str = "order.") -> Optional[dt.datetime]:
    parsed = _iso(data, name, where, lambda text: dt.datetime.fromisoformat(text.replace("Z", "+00:00")),
                  "an ISO 8601 date and time")
    return parsed if parsed is None or parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)
