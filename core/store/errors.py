"""Errors raised by store implementations (data access, not business rules)."""
from __future__ import annotations


class StoreError(Exception):
    """Base class of the store layer's errors."""


class StoreUnavailable(StoreError):
    """The database (or shop backend) cannot be reached or timed out."""


class OrderStateChanged(StoreError):
    """A check-and-set failed: the order moved on (e.g. shipped) meanwhile."""


class UnknownItems(StoreError):
    """Item ids given for a return do not belong to the order."""


class ReturnStateChanged(StoreError):
    """A return can no longer be changed (received, refunded, already an
    exchange, or not found)."""


class NotEnoughUnits(StoreError):
    """A return (or an exchange taken from one) asks for fewer than one unit
    of a line, or more than the line (or that return) holds."""


class UnknownOrder(StoreError):
    """A shop event names an order the store does not have."""


class UnknownReturn(StoreError):
    """A shop event names a return the order does not have (or the order has
    no return it could mean)."""


class IncompleteEvent(StoreError):
    """A shop event lacks what the store needs to apply it to this order
    (e.g. ``order.shipped`` without carrier or tracking for an order that has
    no shipment yet)."""
