"""What the bot may say about a date the store promised (a delivery, a
refund), as plain rules without Rasa.

Why: a date that has passed must never be said as a promise ("llegará como
tarde el <ayer>"). Whether it has passed is ``StorePolicy.is_late`` and
whether a delivery is overdue ``StorePolicy.is_overdue``, the one rule; this
module only applies them to the store's orders and refunds, so every answer
that shows a store date asks the same question.
"""
from __future__ import annotations

from typing import Iterable, List

from core.policy import StorePolicy
from core.store import Order, Refund

ON_TIME = "on_time"
LATE = "late"          # past the date, within the grace days
OVERDUE = "overdue"    # past the grace days: a person opens an incident
NOT_SHIPPED = ("pending_payment", "processing")
IN_TRANSIT = ("shipped", "out_for_delivery")


def delivery_state(order: Order, policy: StorePolicy) -> str:
    """On time, late or overdue, for an order that has not been delivered
    (a delivered, cancelled or returned order is on time: nothing is promised)."""
    if order.status not in NOT_SHIPPED + IN_TRANSIT or not policy.is_late(order.expected_delivery):
        return ON_TIME
    return OVERDUE if policy.is_overdue(order.expected_delivery) else LATE


def refund_is_late(refund: Refund, policy: StorePolicy) -> bool:
    """The money has not arrived and the date it should have is past."""
    return refund.status != "completed" and policy.is_late(refund.expected_at)


def late_refunds(refunds: Iterable[Refund], policy: StorePolicy) -> List[Refund]:
    return [r for r in refunds if refund_is_late(r, policy)]


__all__ = ["IN_TRANSIT", "LATE", "NOT_SHIPPED", "ON_TIME", "OVERDUE", "delivery_state", "late_refunds",
           "refund_is_late"]
