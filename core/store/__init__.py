"""The store interface the actions (and the bridge's case card) read and change.

Why an interface: a real shop backend (Shopify, PrestaShop, an ERP) can be
plugged in later by implementing ``Store``; the actions never see SQL.
``create_store()`` is the factory (like Rasa's lock store): it picks the
implementation from the environment and opens nothing until first use.

Limits: the methods are async but the SQL implementation runs blocking
SQLAlchemy calls in a worker thread, one fresh session per call.
"""
from __future__ import annotations

import os
from typing import List, Mapping, Optional, Protocol, Sequence

from core.store.errors import StoreError, StoreUnavailable
from core.store.types import (
    Address,
    Customer,
    Order,
    OrderItem,
    Refund,
    Return,
    Shipment,
    ShopEvent,
    ShopEventOutcome,
)

__all__ = [
    "Address",
    "Customer",
    "Order",
    "OrderItem",
    "Refund",
    "Return",
    "Shipment",
    "ShopEvent",
    "ShopEventOutcome",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "create_store",
    "shared_store",
    "use_store",
    "default_database_url",
]


class Store(Protocol):
    """What the assistant needs from a shop backend. Data access only: the
    business rules (windows, eligibility) live in the actions modules."""

    async def get_order(self, order_id: str) -> Optional[Order]:
        """The order with its items, shipment, returns and refunds, or None."""

    async def get_customer_by_email(self, email: str) -> Optional[Customer]:
        """Case-insensitive lookup."""

    async def get_customer_by_phone(self, phone: str) -> Optional[Customer]:
        """Lookup by phone, compared on digits only (ignores +, spaces, 00)."""

    async def orders_for_customer(self, customer_id: int) -> List[Order]:
        """Newest first."""

    async def cancel_order(
        self, order_id: str, refund_days: int, allowed_statuses: Sequence[str] = ...
    ) -> Order:
        """Mark cancelled and create the refund for the amount paid (none for an
        unpaid order), atomically. Raises OrderStateChanged if the status is no
        longer in allowed_statuses (the policy's) at write time."""

    async def update_shipping_address(
        self, order_id: str, address: Address, allowed_statuses: Sequence[str]
    ) -> Order:
        """Atomic check-and-set: raises OrderStateChanged if the status is no
        longer in allowed_statuses."""

    async def create_return(
        self, order_id: str, item_ids: Sequence[int], reason: str, wanted_variant: Optional[str] = None,
        quantities: Optional[Mapping[int, int]] = None,
    ) -> Return:
        """Create a return (status 'requested') with its own number DEV-XXXXXX;
        with ``wanted_variant`` it is an exchange (kind 'exchange', no refund).
        ``quantities``: units of each line going back (default: the whole
        line); NotEnoughUnits outside 1..the line's quantity. Which units are
        still free (not in other returns) is the actions' rule."""

    async def convert_to_exchange(
        self, order_id: str, return_number: str, item_ids: Sequence[int], wanted_variant: str,
        quantities: Optional[Mapping[int, int]] = None,
    ) -> Return:
        """Turn these items of a still-requested return into an exchange for
        ``wanted_variant`` (the whole return keeps its number). Raises
        ReturnStateChanged when the return has moved on, UnknownItems when an
        item is not in it. ``quantities``: units of an item to move (default:
        all the return holds of it); NotEnoughUnits if it holds fewer."""

    async def apply_shop_event(self, event: ShopEvent) -> ShopEventOutcome:
        """Apply a shop's order event once per ``event_id``, atomically with
        the record of it (a repeat: ``applied`` False, nothing changed).
        Raises UnknownOrder, UnknownReturn or IncompleteEvent (nothing
        recorded, so a later delivery of the same id can still apply)."""

    async def ping(self) -> None:
        """Raise StoreUnavailable if the database cannot be reached."""


def default_database_url() -> str:
    """DATABASE_URL, or SQLite in the git-ignored var/ folder of the checkout."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return "sqlite:///" + os.path.join(root, "var", "store.db")


def create_store(database_url: Optional[str] = None) -> Store:
    """Factory: today only the SQL store; the URL decides SQLite or PostgreSQL."""
    from core.store.sql import SqlStore

    return SqlStore(database_url or default_database_url())


_shared: Optional[Store] = None


def shared_store() -> Store:
    """The process's store (one engine and pool, created on first use; each
    call still gets its own session). Tests replace it with ``use_store``."""
    global _shared
    if _shared is None:
        _shared = create_store()
    return _shared


def use_store(store: Optional[Store]) -> None:
    """Swap the process's store (tests, or a custom backend at start-up)."""
    global _shared
    _shared = store
