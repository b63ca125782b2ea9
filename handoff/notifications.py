"""The order updates owed and told (docs/protocol.md, "Order updates") (``handoff_notifications``, migration
0007), and the reads of the store's tables they start from: shop events not
yet planned (``shop_events.notified_at`` NULL), the customer of an order,
the conversations linked to a customer, and shipped orders past their date.

One row per customer, event and channel (the unique key ``event_key``,
``customer_id``, ``channel``): planning again (a restart, a new leader, two
bridges for a moment) adds nothing. The row is channel-neutral: ``channel``
(telegram | web; email later), ``state`` and ``body`` (the text and buttons
as planned) are all a channel needs. States: ``pending`` (due at
``due_at``: later while the quiet hours hold it), ``queued`` (in the
Telegram outbox), ``sent``, ``skipped`` (``reason``: no_consent, off,
blocked) and ``failed``.

Limits: the SQL store only (it reads the store's ``orders`` and
``shop_events`` tables directly, in the bridge's database).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    column,
    func,
    insert,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.engine import Connection

from core.store.models import OrderRow, ShopEventRow
from handoff import vocabulary as vocab
from handoff.storage import StorageEngine, conversations_table
from handoff.storage.records import as_utc

metadata = MetaData()
NOTIFY_SIGNAL = "shop_notify"  # an event was applied: the leader's Notifier plans and sends

notifications_table = Table(
    "handoff_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # what was told, once per customer and channel: e:<shop event id>, or
    # delay:<order>:<new date> (order.delayed), late:<order>:<expected date> (the leader's check)
    Column("event_key", String(120), nullable=False),
    Column("event_id", String(100), nullable=True),
    Column("order_id", String(6), nullable=False, index=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("topic", String(40), nullable=False),          # the shop's topic, or order.late
    Column("channel", String(20), nullable=False),        # telegram | web (email: later)
    Column("conversation_id", String(40), nullable=True),
    Column("chat_id", BigInteger, nullable=True),
    Column("state", String(10), nullable=False, index=True),
    Column("reason", String(40), nullable=True),
    Column("body", Text, nullable=False),                 # JSON: {"text", "buttons"}
    Column("message_id", Integer, nullable=True),         # the conversation's message that tells it
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("event_key", "customer_id", "channel", name="uq_handoff_notifications_key"),
)

# The Telegram channel's chats (handoff/channels/telegram/store.py): named,
# not imported, so the bridge's case card can read notifications without
# importing the channel (which imports the bridge).
chats_table = table("handoff_telegram_chats", column("chat_id", BigInteger), column("conversation_id", String))

LINKED_WEB = ("order_email", "shop_identity")  # a web conversation verified for its customer
SHIPPED = ("shipped",)                          # the statuses the late check looks at


@dataclass(frozen=True)
class Target:
    """Where a customer is told: a channel and its conversation (and chat)."""

    channel: str
    conversation_id: str
    chat_id: Optional[int] = None


@dataclass(frozen=True)
class Planned:
    """One update to tell a customer (what ``plan`` records)."""

    event_key: str
    event_id: Optional[str]
    order_id: str
    customer_id: str
    topic: str
    body: Dict[str, Any]


def _row(row: Any) -> Dict[str, Any]:
    item = dict(row._mapping)
    item["body"] = json.loads(item["body"])
    for name in ("due_at", "created_at", "sent_at"):
        item[name] = as_utc(item[name])
    return item


class NotificationStore:
    """The notifications' SQL, each call one transaction on the bridge's engine."""

    def __init__(self, storage: StorageEngine) -> None:
        self.storage = storage

    async def unplanned_events(self, limit: int = 200) -> List[Dict[str, Any]]:
        """Shop events nobody was told of yet (``notified_at`` NULL), oldest
        first, with the order's customer: ``event_id, topic, order_id,
        occurred_at, payload, customer_id``."""
        e, o = ShopEventRow.__table__.c, OrderRow.__table__.c

        def work(conn: Connection) -> List[Dict[str, Any]]:
            rows = conn.execute(
                select(e.event_id, e.topic, e.order_id, e.occurred_at, e.payload, o.customer_id)
                .join(OrderRow.__table__, o.order_id == e.order_id)
                .where(e.notified_at.is_(None)).order_by(e.received_at, e.event_id).limit(limit)).all()
            return [dict(r._mapping) for r in rows]
        return await self.storage.run(work)

    async def overdue_orders(self, before: dt.date, after: Optional[Tuple[dt.date, str]] = None,
                             limit: int = 500) -> List[Dict[str, Any]]:
        """Shipped orders expected before ``before`` (not delivered), by
        (expected date, order id), from just ``after`` such a pair (a page):
        ``order_id, customer_id, expected_delivery``."""
        o = OrderRow.__table__.c

        def work(conn: Connection) -> List[Dict[str, Any]]:
            query = select(o.order_id, o.customer_id, o.expected_delivery).where(
                and_(o.status.in_(SHIPPED), o.expected_delivery < before))
            if after is not None:
                query = query.where(or_(o.expected_delivery > after[0],
                                        and_(o.expected_delivery == after[0], o.order_id > after[1])))
            rows = conn.execute(query.order_by(o.expected_delivery, o.order_id).limit(limit)).all()
            return [dict(r._mapping) for r in rows]
        return await self.storage.run(work)

    async def targets(self, customer_id: str, telegram: bool) -> List[Target]:
        """The customer's latest verified web conversation and (``telegram``:
        the channel runs) the latest Telegram chat linked to them; at most
        one of each (a customer is told once per channel)."""
        c = conversations_table.c

        def work(conn: Connection) -> List[Target]:
            found: List[Target] = []
            web = conn.execute(select(c.id).where(and_(
                c.customer_id == customer_id, c.channel == "web", c.customer_linked_by.in_(LINKED_WEB)))
                .order_by(c.updated_at.desc(), c.id).limit(1)).first()
            if web is not None:
                found.append(Target("web", web.id))
            if telegram:
                chat = conn.execute(select(c.id, chats_table.c.chat_id)
                                    .join(chats_table, chats_table.c.conversation_id == c.id)
                                    .where(c.customer_id == customer_id)
                                    .order_by(c.updated_at.desc(), c.id).limit(1)).first()
                if chat is not None:
                    found.append(Target("telegram", chat.id, int(chat.chat_id)))
            return found
        return await self.storage.run(work)

    async def plan(self, planned: Sequence[Planned], targets: Dict[str, List[Target]],
                   event_id: Optional[str], now: dt.datetime) -> int:
        """Record each update for each of its customer's targets (``targets``
        by customer id), and mark the shop event ``event_id`` (if any) told,
        in one transaction; rows already there are left as they are. How
        many rows are new."""
        n = notifications_table.c

        def work(conn: Connection) -> int:
            added = 0
            for item in planned:
                for target in targets.get(item.customer_id, []):
                    exists = conn.execute(select(n.id).where(and_(
                        n.event_key == item.event_key, n.customer_id == item.customer_id,
                        n.channel == target.channel))).first()
                    if exists is not None:
                        continue
                    conn.execute(insert(notifications_table).values(
                        event_key=item.event_key[:120], event_id=item.event_id, order_id=item.order_id,
                        customer_id=item.customer_id, topic=item.topic, channel=target.channel,
                        conversation_id=target.conversation_id, chat_id=target.chat_id, state="pending",
                        body=json.dumps(item.body, ensure_ascii=False), due_at=now, created_at=now))
                    added += 1
            if event_id is not None:
                events = ShopEventRow.__table__
                conn.execute(update(events).where(events.c.event_id == event_id).values(notified_at=now))
            return added
        return await self.storage.run(work)

    async def known(self, event_keys: Sequence[str]) -> set:
        """Which of ``event_keys`` were planned already (for any customer)."""
        n = notifications_table.c

        def work(conn: Connection) -> set:
            if not event_keys:
                return set()
            return {r.event_key for r in conn.execute(
                select(n.event_key).where(n.event_key.in_(list(event_keys))).distinct()).all()}
        return await self.storage.run(work)

    async def due(self, now: dt.datetime, limit: int = 500) -> List[Dict[str, Any]]:
        """Pending rows due by ``now``, oldest first."""
        n = notifications_table.c

        def work(conn: Connection) -> List[Dict[str, Any]]:
            return [_row(r) for r in conn.execute(
                select(notifications_table).where(and_(n.state == "pending", n.due_at <= now))
                .order_by(n.due_at, n.id).limit(limit)).all()]
        return await self.storage.run(work)

    async def next_due(self) -> Optional[dt.datetime]:
        """When the first pending row falls due (None: none pending)."""
        n = notifications_table.c

        def work(conn: Connection) -> Optional[dt.datetime]:
            return as_utc(conn.execute(select(func.min(n.due_at)).where(n.state == "pending")).scalar())
        return await self.storage.run(work)

    async def mark(self, notification_id: int, state: str, *, reason: Optional[str] = None,
                   message_id: Optional[int] = None, due_at: Optional[dt.datetime] = None,
                   sent_at: Optional[dt.datetime] = None) -> None:
        values: Dict[str, Any] = {"state": state, "reason": reason}
        if message_id is not None:
            values["message_id"] = message_id
        if due_at is not None:
            values["due_at"] = due_at
        if sent_at is not None:
            values["sent_at"] = sent_at

        def work(conn: Connection) -> None:
            conn.execute(update(notifications_table).where(notifications_table.c.id == notification_id)
                         .values(**values))
        await self.storage.run(work)

    async def outbox_done(self, notification_id: int, error: Optional[str], now: dt.datetime) -> None:
        """The Telegram outbox sent the row (``error`` None) or gave up."""
        n = notifications_table.c
        values: Dict[str, Any] = ({"state": "sent", "sent_at": now, "reason": None} if error is None
                                  else {"state": "failed", "reason": error[:40]})

        def work(conn: Connection) -> None:
            conn.execute(update(notifications_table).where(and_(n.id == notification_id, n.state == "queued"))
                         .values(**values))
        await self.storage.run(work)

    async def for_customer(self, customer_id: str, limit: int = 20) -> List[Dict[str, Any]]:
        """The customer's notifications, newest first (the case card's)."""
        n = notifications_table.c

        def work(conn: Connection) -> List[Dict[str, Any]]:
            return [_row(r) for r in conn.execute(
                select(notifications_table).where(n.customer_id == customer_id)
                .order_by(n.created_at.desc(), n.id.desc()).limit(limit)).all()]
        return await self.storage.run(work)

    async def rows(self) -> List[Dict[str, Any]]:
        """Every row (tests, the bench)."""
        def work(conn: Connection) -> List[Dict[str, Any]]:
            return [_row(r) for r in conn.execute(select(notifications_table).order_by(notifications_table.c.id))]
        return await self.storage.run(work)


async def customer_notifications(db: NotificationStore, customer_id: Optional[str]) -> List[Dict[str, Any]]:
    """The case card's list: what the customer was told of their orders
    (``at``, ``order_id``, ``topic``, ``channel``, ``state``, ``reason``,
    ``text``, and each code's Spanish as ``*_text``: handoff/vocabulary.py)."""
    if not customer_id:
        return []
    return [{"at": (r["sent_at"] or r["created_at"]).isoformat(), "order_id": r["order_id"], "topic": r["topic"],
             "topic_text": vocab.label("notification_topic", r["topic"]), "channel": r["channel"],
             "channel_text": vocab.label("channel", r["channel"]), "state": r["state"],
             "state_text": vocab.label("notification_state", r["state"]), "reason": r["reason"],
             "reason_text": vocab.label("notification_reason", r["reason"]) if r["reason"] else None,
             "text": r["body"].get("text", "")}
            for r in await db.for_customer(customer_id)]
