"""Return rules without Rasa: which lines of an order can still go back
(and how many units), and how a return reads in Spanish.

Why here: the action server (actions/returns.py) and the bridge's case card
both ask these questions, and the bridge must not import Rasa's SDK.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from core.formatting import date_es, items_es
from core.policy import StorePolicy
from core.store import Order, OrderItem, Return


def delivered_day(order: Order, policy: StorePolicy) -> dt.date:
    """The store day an order was delivered (it must have been)."""
    delivered_at = order.shipment.delivered_at if order.shipment else None
    if delivered_at is None:
        raise ValueError(f"order {order.order_id} has not been delivered")
    return delivered_at.astimezone(policy.tz).date() if delivered_at.tzinfo else delivered_at.date()


@dataclass(frozen=True)
class Eligibility:
    """``reason`` is None when something can be returned."""

    reason: Optional[str]          # not_delivered | window_expired | final_sale | in_return | closed | None
    eligible: Tuple[OrderItem, ...]
    final_sale: Tuple[OrderItem, ...]
    days_since_delivery: Optional[int]
    # units of each line still returnable: its quantity less the units in returns not rejected
    free_units: Mapping[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason is None

    def units(self, item: OrderItem) -> int:
        return self.free_units.get(item.id, 0)


def convertible_returns(order: Order) -> Tuple[Return, ...]:
    """Returns an exchange may take items from: still requested (nothing
    received or refunded yet) and not exchanges already."""
    return tuple(r for r in order.returns if r.status == "requested" and not r.is_exchange)


def return_eligibility(
    order: Order, policy: StorePolicy, today: Optional[dt.date] = None, for_exchange: bool = False
) -> Eligibility:
    """``for_exchange``: items of a still-requested return count as eligible
    (the exchange converts that return)."""
    today = today or policy.today()
    if order.status in ("cancelled", "returned"):
        return Eligibility("closed", (), (), None)
    delivered_at = order.shipment.delivered_at if order.shipment else None
    if order.status != "delivered" or delivered_at is None:
        return Eligibility("not_delivered", (), (), None)
    days = (today - delivered_day(order, policy)).days
    if policy.return_days_left(delivered_day(order, policy), today) < 0:
        return Eligibility("window_expired", (), (), days)
    convertible = {r.return_number for r in convertible_returns(order)} if for_exchange else set()
    free = {
        item.id: item.quantity - sum(
            ret.units_of(item) for ret in order.returns
            if ret.status != "rejected" and ret.return_number not in convertible)
        for item in order.items
    }
    open_items = [item for item in order.items if free[item.id] > 0]
    eligible = tuple(item for item in open_items if not item.final_sale)
    final_sale = tuple(item for item in open_items if item.final_sale)
    units = {item.id: free[item.id] for item in open_items}
    if not eligible:
        if final_sale:
            return Eligibility("final_sale", (), final_sale, days, units)
        return Eligibility("in_return" if order.returns else "closed", (), final_sale, days, units)
    return Eligibility(None, eligible, final_sale, days, units)


def deadline_variables(order: Order, policy: StorePolicy, quantity: int) -> Dict[str, str]:
    """How the return instructions say the deadline: 'el jueves 3 de
    diciembre' (the last day to hand the parcel in, from the delivery date)
    and 'el artículo' / 'los artículos' for what goes in the parcel."""
    return {
        "return_deadline": date_es(policy.return_deadline(delivered_day(order, policy))),
        "the_items": "el artículo" if quantity == 1 else "los artículos",
    }


def parse_units(value: Any) -> Dict[int, int]:
    """The ``return_quantity`` / ``return_units_known`` slot: '12:1,13:2' → {12: 1, 13: 2}."""
    found: Dict[int, int] = {}
    for part in str(value or "").split(","):
        key, _, units = part.partition(":")
        if key.strip().isdigit() and units.strip().isdigit():
            found[int(key)] = int(units)
    return found


def units_text(units: Mapping[int, int]) -> str:
    return ",".join(f"{item_id}:{n}" for item_id, n in sorted(units.items()))


def lines_es(order: Order, units: Mapping[int, int]) -> str:
    """'• 1 de 3 × Camiseta …' for part of a line, '• 1 × Funda …' for all of it."""
    return items_es([item for item in order.items if item.id in units], units=units)


def return_items_es(ret: Return, order: Order) -> str:
    """A return's lines in one line: 'Camiseta …' (all of it) or '1 de 3 × Camiseta …'."""
    return ", ".join(
        item.name if ret.units_of(item) == item.quantity else f"{ret.units_of(item)} de {item.quantity} × {item.name}"
        for item in order.items if item.id in ret.item_ids
    )


def returned_in(order: Order, return_number: Optional[str]) -> str:
    """What the return ``return_number`` took back, for its refund's line."""
    ret = next((r for r in order.returns if r.return_number == return_number), None)
    return return_items_es(ret, order) if ret else ""


RETURN_STATUS_LABELS = {
    "requested": "solicitado", "received": "recibido", "refunded": "reembolsado", "rejected": "rechazado",
}


