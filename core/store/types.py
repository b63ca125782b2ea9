"""Plain, immutable views of the store's data, free of SQLAlchemy.

Why: actions and the bridge receive these, never ORM objects, so no session
outlives a call and a non-SQL backend can return the same shapes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional, Tuple

# Order statuses, in life-cycle order.
ORDER_STATUSES: Tuple[str, ...] = (
    "pending_payment",   # placed, payment not confirmed yet
    "processing",        # paid, being prepared; not shipped
    "shipped",           # handed to the carrier
    "out_for_delivery",  # with the courier today
    "delivered",         # carrier says delivered
    "cancelled",         # cancelled before shipping
    "returned",          # every item came back
)


@dataclass(frozen=True)
class Address:
    street: str
    postal_code: str
    city: str
    province: str = ""
    country: str = "España"


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    name: str
    phone: str
    country: str


@dataclass(frozen=True)
class OrderItem:
    id: int
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    final_sale: bool


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str
    shipped_at: dt.datetime
    delivered_at: Optional[dt.datetime]


@dataclass(frozen=True)
class Return:
    return_number: str          # "DEV-" + 6 digits
    order_id: str
    status: str                 # requested | received | refunded | rejected
    reason: str
    created_at: dt.datetime
    item_ids: Tuple[int, ...]
    kind: str = "return"        # return (refund) | exchange (other size or colour, no refund)
    wanted_variant: Optional[str] = None  # an exchange's new size or colour, e.g. "talla 41"
    # units of each line in ``item_ids`` (same order) that go back; () when unknown (whole lines)
    quantities: Tuple[int, ...] = ()

    @property
    def is_exchange(self) -> bool:
        return self.kind == "exchange"

    def units_of(self, item: "OrderItem") -> int:
        """The units of ``item`` in this return: 0 if it is not in it; the
        whole line when the return does not say (a return of whole lines)."""
        if item.id not in self.item_ids:
            return 0
        if len(self.quantities) == len(self.item_ids):
            return self.quantities[self.item_ids.index(item.id)]
        return item.quantity


@dataclass(frozen=True)
class Refund:
    id: int
    order_id: str
    amount: Decimal
    status: str                 # pending | processing | completed
    created_at: dt.datetime
    expected_at: dt.date
    completed_at: Optional[dt.datetime]
    return_number: Optional[str]


@dataclass(frozen=True)
class Order:
    order_id: str               # 6 digits
    customer: Customer
    status: str                 # one of ORDER_STATUSES
    placed_at: dt.datetime
    expected_delivery: dt.date
    total: Decimal
    payment_method: str
    shipping_address: Address
    invoice_number: Optional[str]
    items: Tuple[OrderItem, ...] = field(default_factory=tuple)
    shipment: Optional[Shipment] = None
    returns: Tuple[Return, ...] = field(default_factory=tuple)
    refunds: Tuple[Refund, ...] = field(default_factory=tuple)


# What a shop may tell the store (POST /api/shop/events, core/shop_events.py).
SHOP_EVENT_TOPICS: Tuple[str, ...] = (
    "order.shipped",
    "order.out_for_delivery",
    "order.delayed",
    "order.delivered",
    "refund.issued",
    "return.received",
)


@dataclass(frozen=True)
class RefundIssued:
    """``refund.issued``: the shop sent the money back (``amount``; for the
    return of the event's ``return_number`` if it names one); ``expected_at``
    is when the shopper should see it."""

    amount: Decimal
    issued_at: Optional[dt.datetime] = None
    expected_at: Optional[dt.date] = None


@dataclass(frozen=True)
class ShopEvent:
    """One order event from the shop, checked (``core.shop_events.parse_event``).
    None: the shop did not say (the store keeps what it has). ``payload`` is
    the raw body, kept with the event for what reads it later (notifications)."""

    event_id: str
    topic: str
    order_id: str
    occurred_at: dt.datetime    # the shop's X-Shop-Timestamp
    payload: str
    status: Optional[str] = None
    carrier: Optional[str] = None
    tracking_number: Optional[str] = None
    expected_delivery: Optional[dt.date] = None
    shipped_at: Optional[dt.datetime] = None
    delivered_at: Optional[dt.datetime] = None
    return_number: Optional[str] = None
    refund: Optional[RefundIssued] = None


@dataclass(frozen=True)
class ShopEventOutcome:
    """``applied`` False: this event id was applied before, nothing was done
    now (``order`` is then None)."""

    applied: bool
    order: Optional[Order] = None
