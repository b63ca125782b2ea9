"""The case card an agent gets with a claimed conversation.

What the bot learnt (reason, intents with confidence, entities, verified
customer) comes from the handoff payload; what the bot already answered comes
from the transcript; the customer's orders (status, tracking, return
eligibility) are read fresh from the store. Orders are shown only for a
customer the bot (or a channel: Telegram phone) verified. Limits: a store failure leaves ``orders`` empty
with ``orders_error`` set; it never blocks the claim.

Every code on the card (reason, intents, entities, details, statuses,
booleans) comes with its Spanish text from handoff/vocabulary.py (``*_text``,
``label``, ``details_list``, ``entities_list``): the console prints only
those. The customer's earlier conversations (any channel) are
``previous_conversations`` (``earlier_conversation`` for each row).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from core.policy import StorePolicy
from core.returns import return_eligibility, return_items_es
from core.store import Order, Store, StoreError
from handoff import vocabulary as vocab
from handoff.storage import StoredMessage

logger = logging.getLogger(__name__)
BOT_ANSWERS = 10


def order_summary(order: Order, policy: StorePolicy, verified_order_id: Optional[str] = None) -> Dict[str, Any]:
    eligibility = return_eligibility(order, policy)
    shipment = order.shipment
    return {
        "order_id": order.order_id,
        "verified": verified_order_id is not None and order.order_id == str(verified_order_id),
        "status": order.status,
        "status_text": vocab.label("order_status", order.status),
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
            "eligible_text": vocab.yes_no(eligibility.ok),
            "reason": eligibility.reason,
            "reason_text": vocab.label("return_block", eligibility.reason) if eligibility.reason else None,
            "days_since_delivery": eligibility.days_since_delivery,
            "eligible_items": [i.id for i in eligibility.eligible],
            # units of each eligible line still returnable (its quantity less those in returns)
            "returnable_units": {str(i.id): eligibility.units(i) for i in eligibility.eligible},
        },
        # items: "1 de 3 × Camiseta …" for part of a line, the name for all of it
        "returns": [{"return_number": r.return_number, "status": r.status,
                     "status_text": vocab.label("return_status", r.status), "kind": r.kind,
                     "kind_text": vocab.label("return_kind", r.kind), "wanted_variant": r.wanted_variant,
                     "items": return_items_es(r, order),
                     "created_at": r.created_at.isoformat()} for r in order.returns],
        "refunds": [{"amount": str(r.amount), "status": r.status, "status_text": vocab.label("refund_status", r.status),
                     "expected_at": r.expected_at.isoformat(), "return_number": r.return_number,
                     "completed_at": r.completed_at.isoformat() if r.completed_at else None}
                    for r in order.refunds],
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
    verified_order_id = (customer or {}).get("verified_order_id")
    return {"orders": [order_summary(o, policy, verified_order_id) for o in orders]}


def customer_view(customer: Optional[Dict[str, Any]],
                  link: Optional[Tuple[Optional[str], Optional[str]]] = None) -> Optional[Dict[str, Any]]:
    """The verified customer with how it was proved in Spanish (``verified_by``:
    a channel's proof; else how the conversation was linked to this same
    customer, ``link`` = (customer id, linked by): a Telegram phone the bot's
    handoff payload does not name; else the bot's order number and e-mail)."""
    if not isinstance(customer, dict):
        return None
    linked_id, linked_by = link or (None, None)
    same = linked_id is not None and str(customer.get("id")) == str(linked_id)
    verified_by = customer.get("verified_by") or (linked_by if same else None) or "order_email"
    return {**customer, "verified_by": verified_by, "verified_by_text": vocab.label("linked_by", verified_by)}


def earlier_conversation(row: Dict[str, Any]) -> Dict[str, Any]:
    """One of the customer's earlier conversations (Storage.customer_conversations)
    as the card shows it: codes and their Spanish."""
    started = row.get("started_at")
    if row.get("state") in ("queued", "agent"):
        outcome = row["state"]
    elif not row.get("handoffs"):
        outcome = "bot_only"
    else:
        outcome = row.get("resolution") or row.get("outcome") or "closed"
    reason = row.get("reason")
    return {
        "conversation_id": row["conversation_id"],
        "started_at": started.isoformat() if started else None,
        "channel": row.get("channel"),
        "channel_text": vocab.label("channel", row.get("channel")),
        "reason": reason,
        "reason_text": vocab.label("reason", reason) if reason else "Sin paso a una persona",
        "outcome": outcome,
        "outcome_text": vocab.label("outcome", outcome),
        "handoffs": row.get("handoffs", 0),
        "agent_id": row.get("agent_id"),
        "agent_name": row.get("agent_name"),
        "csat": row.get("csat"),
        "labels": list(row.get("labels") or []),
    }


async def case_card(
    context: Dict[str, Any], reason: Optional[str], history: Sequence[StoredMessage],
    store: Store, policy: StorePolicy, link: Optional[Tuple[Optional[str], Optional[str]]] = None,
) -> Dict[str, Any]:
    """The card beside a conversation (docs/protocol.md); ``link``: the
    conversation's (customer id, linked by), see ``customer_view``."""
    bot_answers: List[str] = [m.text for m in history if m.sender == "bot" and m.text][-BOT_ANSWERS:]
    code = context.get("reason") or reason
    intents = [dict(i, label=vocab.label("intent", i.get("name")))
               for i in (context.get("intents") or []) if isinstance(i, dict)]
    entities = context.get("entities") or {}
    details = context.get("details") or {}
    card = {
        "reason": code,
        "reason_text": vocab.reason_text(code, context.get("reason_text")),
        "last_intent": context.get("last_intent"),
        "last_intent_text": vocab.label("intent", context["last_intent"]) if context.get("last_intent") else None,
        "intents": intents,
        "entities": entities,
        "entities_list": vocab.fields_list(entities if isinstance(entities, dict) else {}),
        "details": details,
        "details_list": vocab.fields_list(details if isinstance(details, dict) else {}),
        "frustration": context.get("frustration"),
        "customer": customer_view(context.get("customer"), link),
        "customer_name": context.get("customer_name"),
        "bot_answers": bot_answers,
    }
    card.update(await customer_orders(store, context.get("customer"), policy))
    return card
