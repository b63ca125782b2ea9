"""SQLAlchemy 1.4 tables of the SQL store (SQLite or PostgreSQL).

Why a separate module: only ``sql.py`` and ``seed.py`` import it (and
migrations/, to compare); the rest of the project sees the frozen dataclasses
of ``types.py``. The tables are made by migrations/ (a model change needs a
revision: tests/migrations checks that they agree).

Limits: datetimes are stored as naive UTC (portable across SQLite and
PostgreSQL) and come back timezone-aware in UTC through ``UtcDateTime``.
Phone lookups compare ``phone_digits`` (see ``normalize_phone``).
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, List, Optional

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.types import TypeDecorator

Base: Any = declarative_base()

_NON_DIGITS = re.compile(r"\D")
_CENT = Decimal("0.01")


def normalize_phone(phone: str) -> str:
    """Digits only, international form without '+' or '00'.

    "+34 612 345 678", "0034612345678", "34612345678" and the Spanish
    national "612 345 678" all give "34612345678". Limit: only Spanish
    national numbers (9 digits starting with 6-9) get a country code added;
    other national numbers stay as typed (``SqlStore`` then tries a suffix
    match).
    """
    digits = _NON_DIGITS.sub("", phone or "")
    if digits.startswith("00"):
        digits = digits[2:]
    if len(digits) == 9 and digits[0] in "6789":
        digits = "34" + digits
    return digits


class UtcDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, so both databases behave alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(
        self, value: Optional[dt.datetime], dialect: Dialect
    ) -> Optional[dt.datetime]:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: Optional[dt.datetime], dialect: Dialect
    ) -> Optional[dt.datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


class Money(TypeDecorator):
    """Numeric(10, 2) that is always a 2-decimal Decimal in Python.

    SQLite has no decimal type: there the value is stored as REAL and rounded
    back to cents on the way out (exact for shop amounts below 10^8).
    """

    impl = Numeric(10, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Numeric(10, 2, asdecimal=False))
        return dialect.type_descriptor(Numeric(10, 2))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        cents = Decimal(value).quantize(_CENT)
        return float(cents) if dialect.name == "sqlite" else cents

    def process_result_value(self, value: Any, dialect: Dialect) -> Optional[Decimal]:
        if value is None:
            return None
        return Decimal(str(value)).quantize(_CENT)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class CustomerRow(Base):
    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True, index=True)  # lowercased
    name = Column(String(200), nullable=False)
    phone = Column(String(40), nullable=False, default="")
    phone_digits = Column(String(20), nullable=False, default="", index=True)
    country = Column(String(60), nullable=False, default="España")
    city = Column(String(100), nullable=False, default="")
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)

    orders: List["OrderRow"] = relationship("OrderRow", back_populates="customer")


class OrderRow(Base):
    __tablename__ = "orders"

    order_id = Column(String(6), primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    status = Column(String(30), nullable=False, index=True)
    placed_at = Column(UtcDateTime, nullable=False)
    expected_delivery = Column(Date, nullable=False)
    total = Column(Money, nullable=False)
    payment_method = Column(String(60), nullable=False)
    ship_street = Column(String(200), nullable=False)
    ship_postal_code = Column(String(20), nullable=False)
    ship_city = Column(String(100), nullable=False)
    ship_province = Column(String(100), nullable=False, default="")
    ship_country = Column(String(60), nullable=False, default="España")
    invoice_number = Column(String(30), nullable=True)

    customer: CustomerRow = relationship("CustomerRow", back_populates="orders")
    items: List["OrderItemRow"] = relationship(
        "OrderItemRow", order_by="OrderItemRow.id", back_populates="order"
    )
    shipment: Optional["ShipmentRow"] = relationship("ShipmentRow", uselist=False)
    returns: List["ReturnRow"] = relationship(
        "ReturnRow", order_by="ReturnRow.id", back_populates="order"
    )
    refunds: List["RefundRow"] = relationship("RefundRow", order_by="RefundRow.id")


class OrderItemRow(Base):
    __tablename__ = "order_items"

    id = Column(Integer, primary_key=True)
    order_id = Column(String(6), ForeignKey("orders.order_id"), nullable=False, index=True)
    sku = Column(String(40), nullable=False)
    name = Column(String(200), nullable=False)
    quantity = Column(Integer, nullable=False)
    unit_price = Column(Money, nullable=False)
    final_sale = Column(Boolean, nullable=False, default=False)

    order: OrderRow = relationship("OrderRow", back_populates="items")


class ShipmentRow(Base):
    __tablename__ = "shipments"

    order_id = Column(String(6), ForeignKey("orders.order_id"), primary_key=True)  # one per order
    carrier = Column(String(30), nullable=False)
    tracking_number = Column(String(40), nullable=False, index=True)
    shipped_at = Column(UtcDateTime, nullable=False)
    delivered_at = Column(UtcDateTime, nullable=True)


class ReturnItemRow(Base):
    """One order line in a return, with the units of it that go back.

    ``quantity`` NULL is a row written before returns took part of a line
    (migration 0004): it meant the whole line, and still reads so
    (``units``). New rows always store their units."""

    __tablename__ = "return_items"

    return_id = Column(Integer, ForeignKey("returns.id"), primary_key=True)
    order_item_id = Column(Integer, ForeignKey("order_items.id"), primary_key=True)
    quantity = Column(Integer, nullable=True)

    return_: "ReturnRow" = relationship("ReturnRow", back_populates="lines")
    item: OrderItemRow = relationship("OrderItemRow")

    @property
    def units(self) -> int:
        return self.quantity if self.quantity is not None else self.item.quantity


return_items = ReturnItemRow.__table__


class ReturnRow(Base):
    __tablename__ = "returns"

    id = Column(Integer, primary_key=True)
    return_number = Column(String(10), nullable=False, unique=True, index=True)
    order_id = Column(String(6), ForeignKey("orders.order_id"), nullable=False, index=True)
    status = Column(String(20), nullable=False, default="requested")
    reason = Column(Text, nullable=False, default="")
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)

    order: OrderRow = relationship("OrderRow", back_populates="returns")
    # the lines with their units (written through these); ``items`` only reads the order lines
    lines: List[ReturnItemRow] = relationship(
        "ReturnItemRow", back_populates="return_", order_by="ReturnItemRow.order_item_id",
        cascade="all, delete-orphan",
    )
    items: List[OrderItemRow] = relationship(
        "OrderItemRow", secondary=return_items, order_by="OrderItemRow.id", viewonly=True
    )
    exchange: Optional["ReturnExchangeRow"] = relationship(
        "ReturnExchangeRow", uselist=False, back_populates="return_", cascade="all, delete-orphan"
    )


class ReturnExchangeRow(Base):
    """Makes a return an exchange: the items go back and the shop sends
    ``wanted_variant`` (another size or colour) instead of refunding.

    Why a table of its own and not a column of ``returns``: when it came, the
    schema was made with ``create_all``, which adds missing tables to an
    existing database but never alters one. The schema is now the migrations'
    (migrations/): a change of these models needs a revision there."""

    __tablename__ = "return_exchanges"

    return_id = Column(Integer, ForeignKey("returns.id"), primary_key=True)
    wanted_variant = Column(String(100), nullable=False)
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)

    return_: ReturnRow = relationship("ReturnRow", back_populates="exchange")


class RefundRow(Base):
    __tablename__ = "refunds"

    id = Column(Integer, primary_key=True)
    order_id = Column(String(6), ForeignKey("orders.order_id"), nullable=False, index=True)
    return_id = Column(Integer, ForeignKey("returns.id"), nullable=True)
    amount = Column(Money, nullable=False)
    status = Column(String(20), nullable=False, default="pending")
    created_at = Column(UtcDateTime, nullable=False, default=utcnow)
    expected_at = Column(Date, nullable=False)
    completed_at = Column(UtcDateTime, nullable=True)

    return_: Optional[ReturnRow] = relationship("ReturnRow")


class ShopEventRow(Base):
    """An order event the shop sent (POST /api/shop/events), applied once.

    ``event_id`` is the unique key that makes a delivery act once: it is
    inserted in the same transaction as the order's change, so a repeated
    delivery, a bridge restarted between tries or two bridges racing the same
    id apply it once (the loser's transaction fails on the key and changes
    nothing). ``payload`` is the shop's body as received and ``notified_at``
    stays NULL until something tells the customer (the order-update
    notifications to come read the rows where it is NULL)."""

    __tablename__ = "shop_events"

    event_id = Column(String(100), primary_key=True)
    topic = Column(String(40), nullable=False)
    order_id = Column(String(6), ForeignKey("orders.order_id"), nullable=False, index=True)
    occurred_at = Column(UtcDateTime, nullable=False)   # the shop's X-Shop-Timestamp
    received_at = Column(UtcDateTime, nullable=False, default=utcnow)
    payload = Column(Text, nullable=False)
    notified_at = Column(UtcDateTime, nullable=True)
