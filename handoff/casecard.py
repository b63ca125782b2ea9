"""The case card an agent gets with a claimed conversation.

What the bot learnt (reason, intents with confidence, entities, verified
customer) comes from the handoff payload; what the bot already answered comes
from the transcript; the customer's orders (status, tracking, return
eligibility) are read fresh from the store. Orders are shown only for a
customer the bot (or a channel: Telegram phone) verified. Limits: a store failure leaves ``orders`` empty
with ``orders_error`` set; it never blocks the claim.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence

from actions.policy import StorePolicy
from actions.returns import return_eligibility, return_items_es
from actions.store import Order, Store, StoreError
from handoff.storage import StoredMessage

logger = logging.getLogger(__name__)
BOT_ANSWERS = 10


def order_summary(order: Order, policy: StorePolicy) -> Dict[str, Any]:
    eligibility = return_eligibility(order, policy)
    shipment = order.shipment
    return {
        "order_id": order.order_id,
        "status": order.status,
        "placed_at": order.placed_at.isoformat(),
        "expected_delivery": order.expected_delivery.isoformat(),
        "total": str(order.total),
        "payment_method": order.payment_method,
        "carrier": shipment.carrier if shipment else None,
        "tracking_number": shipment.tracking_number if shipment else None,
        "tracking_url": policy.tracking_url(shipment.carrier, shipment.tracking_number) if shipment else None,
        "delivered_at": shipment.delivered_at.isoformat() if shipment and shipment.delivered_at else None,
        "items": [{"id": i.id, "name": i.name, "quantity": i.quantity, "final_sale": i.final_sale} for i in order.items],
        "return_eligibility": {
            "eligible": eligibility.ok,
            "reason": eligibility.reason,
            "days_since_delivery": eligibility.days_since_delivery,
            "eligible_items": [i.id for i in eligibility.eligible],
            # units of each eligible line still returnable (its quantity less those in returns)
            "returnable_units": {str(i.id): eligibility.units(i) for i in eligibility.eligible},
        },
        # items: "1 de 3 × Camiseta …" for part of a line, the name for all of it
        "returns": [{"return_number": r.return_number, "status": r.status, "kind": r.kind,
                     "wanted_variant": r.wanted_variant, "items": return_items_es(r, order)} for r in order.returns],
        "refunds": [{"amount": str(r.amount), "status": r.status} for r in order.refunds],
    }


async def customer_orders(store: Store, customer: Optional[Dict[str, Any]], policy: StorePolicy) -> Dict[str, Any]:
    email = (customer or {}).get("email")
    if not email:
        return {"orders": []}
    try:
        found = await store.get_customer_by_email(str(email))
        if found is None:
            return {"orders": []}
        orders = await store.orders_for_customer(found.id)
    except StoreError as exc:
        logger.warning("case_card_store_failed", extra={"error": type(exc).__name__})
        return {"orders": [], "orders_error": "store_unavailable"}
    return {"orders": [order_summary(o, policy) for o in orders]}


async def case_card(
    context: Dict[str, Any], reason: Optional[str], history: Sequence[StoredMessage],
    store: Store, policy: StorePolicy,
) -> Dict[str, Any]:
    bot_answers: List[str] = [m.text for m in history if m.sender == "bot" and m.text][-BOT_ANSWERS:]
    card = {
        "reason": context.get("reason") or reason,
        "reason_text": context.get("reason_text"),
        "last_intent": context.get("last_intent"),
        "intents": context.get("intents") or [],
        "entities": context.get("entities") or {},
        "details": context.get("details") or {},
        "frustration": context.get("frustration"),
        "customer": context.get("customer"),
        "customer_name": context.get("customer_name"),
        "bot_answers": bot_answers,
    }
    card.update(await customer_orders(store, context.get("customer"), policy))
    return card
