"""Order updates out (docs/protocol.md, "Order updates"): the leader's loop
that tells the customers linked to an order what the shop reported, on
their channels, once.

Three steps, each safe to repeat (a restart, a new leader):
1. plan: every shop event with ``notified_at`` NULL becomes one
   notification row per linked customer and channel (handoff/notifications.py;
   the unique key makes a second plan add nothing), and ``notified_at`` is
   set in the same transaction;
2. the late check (every HANDOFF_LATE_CHECK_S): a shipped order past its
   expected date plus the policy's ``overdue_grace_days`` is planned as
   ``order.late``, once per order and date;
3. deliver the due rows. Web: a ``system`` message with the buttons stored in
   the conversation (client id ``n:<row>``: stored once; the shopper reads it
   on the next visit) and an ``order_update`` frame to the open widget.
   Telegram: only a chat whose consent is ``on`` (consent.py), never inside
   the policy's ``notification_quiet_hours`` (the row waits until they end),
   stored the same way and queued in the outbox under ``n:<row>`` (queued
   once; the outbox paces it and tells back when it is sent or given up).

Only the cluster's leader runs it (``lead``/``unlead``); any bridge that
applies an event wakes it (the ``shop_notify`` signal). Limits: a customer
is told on their latest verified web conversation and latest Telegram chat
only; email comes later (the rows are channel-neutral).
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any, Dict, List, Optional, Tuple

from core.shop_events import ShopEventInvalid, parse_event
from core.store import StoreError
from handoff.bridge import Bridge
from handoff.channels.telegram import TelegramChannel
from handoff.channels.telegram.consent import ON, UPDATES_OFF_CALLBACK
from handoff.notifications import NOTIFY_SIGNAL, NotificationStore, Planned, Target
from handoff.shop.updates import LATE_TOPIC, event_key, late_body, late_key, update_body
from handoff.storage import StorageError
from handoff.storage.records import as_utc

SOURCE_PREFIX = "n:"
IDLE_WAIT_S = 30.0
LATE_PAGE = 500  # overdue orders read at a time by the late check
logger = logging.getLogger("handoff.shop")


class Notifier:
    """The order updates' planner and sender (the module docstring)."""

    def __init__(self, bridge: Bridge, telegram: Optional[TelegramChannel] = None) -> None:
        self.bridge = bridge
        self.telegram = telegram
        self.db = NotificationStore(bridge.storage)
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        self._late_checked: Optional[float] = None

    def attach(self) -> None:
        """On every bridge: any bridge's applied event wakes the leader's loop;
        the outbox tells back what it did with an update."""
        self.bridge.on_signal(NOTIFY_SIGNAL, self._wake.set)
        if self.telegram is not None:
            self.telegram.outbox_listeners.append(self._outbox_done)

    async def lead(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="shop-notify")

    async def unlead(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            wait = IDLE_WAIT_S
            try:
                if self._late_checked is None or loop.time() - self._late_checked >= self.bridge.settings.late_check_s:
                    self._late_checked = loop.time()
                    await self.late_check()
                await self.run_once()
                upcoming = await self.db.next_due()
                if upcoming is not None:
                    wait = max(0.05, min(wait, (upcoming - self.bridge.clock()).total_seconds()))
            except (StorageError, StoreError) as exc:
                logger.error("shop_notify_failed", extra={"error": str(exc)})
                wait = 5.0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(wait, self.bridge.settings.late_check_s))

    async def run_once(self) -> int:
        """Plan the events not yet told and deliver what is due, a batch of
        events at a time (the first updates go out while later events are
        planned); how many updates were delivered (stored, or queued for
        Telegram)."""
        done = 0
        while True:
            planned = await self.plan_events()
            done += await self.deliver_due()
            if not planned:
                return done

    # -- planning ------------------------------------------------------------

    async def plan_events(self) -> int:
        """Plan a batch of untold shop events; how many events were planned."""
        events = await self.db.unplanned_events()
        for row in events:
            await self._plan_event(row)
        return len(events)

    async def _plan_event(self, row: Dict[str, Any]) -> None:
        customer_id = str(row["customer_id"])
        occurred = as_utc(row["occurred_at"])
        assert occurred is not None  # a NOT NULL column
        planned: List[Planned] = []
        try:
            event = parse_event(row["payload"].encode("utf-8"), row["event_id"], int(occurred.timestamp()))
        except ShopEventInvalid as exc:  # it was valid when applied: only a changed parser gets here
            logger.error("shop_notify_unparsable", extra={"event_id": row["event_id"], "error": exc.code})
            event = None
        order = await self.bridge.store.get_order(row["order_id"]) if event is not None else None
        if event is not None and order is not None:
            body = update_body(event, order, self.bridge.texts, self.bridge.policy,
                               self.bridge.policy.today(self.bridge.clock()))
            if body is not None:
                planned.append(Planned(event_key(event), event.event_id, order.order_id, customer_id,
                                       event.topic, body))
        targets = {customer_id: await self.db.targets(customer_id, self.telegram is not None)} if planned else {}
        added = await self.db.plan(planned, targets, row["event_id"], self.bridge.clock())
        logger.info("shop_event_planned", extra={"event_id": row["event_id"], "notifications": added})

    async def late_check(self) -> int:
        """Plan an apology for every shipped order past its expected date plus
        the policy's grace days (once per order and date); how many rows.
        Limit: every overdue shipped order is read each time (those of
        customers with no linked channel are looked at again next time)."""
        policy = self.bridge.policy
        today = policy.today(self.bridge.clock())
        # is_overdue(expected) holds from overdue_from(expected) = expected + grace + 1 on
        before = today - dt.timedelta(days=policy.overdue_grace_days)
        added = 0
        after: Optional[Tuple[dt.date, str]] = None
        while True:  # a page of overdue orders at a time, every page once
            orders = await self.db.overdue_orders(before, after, LATE_PAGE)
            if not orders:
                break
            after = (orders[-1]["expected_delivery"], orders[-1]["order_id"])
            added += await self._plan_late(orders, today)
        if added:
            logger.info("late_orders_planned", extra={"notifications": added})
            self._wake.set()
        return added

    async def _plan_late(self, orders: List[Dict[str, Any]], today: dt.date) -> int:
        """One page of the late check: the orders not apologised for yet."""
        policy = self.bridge.policy
        keys = {late_key(o["order_id"], o["expected_delivery"]): o for o in orders}
        known = await self.db.known(list(keys))
        fresh = [k for k in keys if k not in known]
        added = 0
        for key in fresh:
            found = keys[key]
            customer_id = str(found["customer_id"])
            targets = await self.db.targets(customer_id, self.telegram is not None)
            if not targets:
                continue
            order = await self.bridge.store.get_order(found["order_id"])
            if order is None or not policy.is_overdue(order.expected_delivery, today):
                continue
            planned = Planned(key, None, order.order_id, customer_id, LATE_TOPIC,
                              late_body(order, self.bridge.texts, policy, today))
            added += await self.db.plan([planned], {customer_id: targets}, None, self.bridge.clock())
        return added

    # -- delivery ------------------------------------------------------------

    async def deliver_due(self) -> int:
        done = 0
        for row in await self.db.due(self.bridge.clock()):
            if row["channel"] == "web":
                done += await self._to_web(row)
            elif row["channel"] == "telegram":
                done += await self._to_telegram(row)
        return done

    async def _store(self, row: Dict[str, Any]) -> Any:
        """The update as a system message of its conversation, once."""
        body = row["body"]
        data = {"buttons": body.get("buttons") or [],
                "notification": {"id": row["id"], "order_id": row["order_id"], "topic": row["topic"]}}
        async with self.bridge.lock(row["conversation_id"]):
            message, created = await self.bridge.storage.add_message(
                row["conversation_id"], "system", body["text"], data, None, f"{SOURCE_PREFIX}{row['id']}")
        return message

    async def _to_web(self, row: Dict[str, Any]) -> int:
        message = await self._store(row)
        frame = {"type": "order_update", "id": str(message.id), "text": message.text,
                 "buttons": row["body"].get("buttons") or [], "order_id": row["order_id"], "topic": row["topic"],
                 "at": message.created_at.isoformat()}
        await self.bridge.to_customer(row["conversation_id"], frame)
        now = self.bridge.clock()
        await self.db.mark(row["id"], "sent", message_id=message.id, sent_at=now)
        logger.info("order_update_sent", extra={"notification_id": row["id"], "channel": "web"})
        return 1

    async def _to_telegram(self, row: Dict[str, Any]) -> int:
        telegram = self.telegram
        if telegram is None or row["chat_id"] is None:
            await self.db.mark(row["id"], "skipped", reason="no_channel")
            return 0
        consent = await telegram.consent.state(int(row["chat_id"]))
        if consent != ON:
            await self.db.mark(row["id"], "skipped", reason=consent or "no_consent")
            return 0
        quiet = self.bridge.policy.quiet_until(self.bridge.clock())
        if quiet is not None:
            await self.db.mark(row["id"], "pending", reason="quiet_hours", due_at=quiet)
            return 0
        message = await self._store(row)
        await telegram.send_notice(int(row["chat_id"]), row["conversation_id"], message.text,
                                   row["body"].get("buttons") or [], str(message.id), f"{SOURCE_PREFIX}{row['id']}",
                                   extra=[(self.bridge.texts["btn_updates_off"], UPDATES_OFF_CALLBACK)])
        await self.db.mark(row["id"], "queued", message_id=message.id)
        return 1

    async def _outbox_done(self, source_key: Optional[str], error: Optional[str]) -> None:
        """The outbox sent (or gave up on) a row: an update's row says so."""
        key = source_key or ""
        if not key.startswith(SOURCE_PREFIX) or not key[len(SOURCE_PREFIX):].isdigit():
            return
        try:
            await self.db.outbox_done(int(key[len(SOURCE_PREFIX):]), error, self.bridge.clock())
        except StorageError as exc:
            logger.error("order_update_unmarked", extra={"source_key": key, "error": str(exc)})



__all__ = ["NOTIFY_SIGNAL", "Notifier", "Target"]
