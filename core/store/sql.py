"""``Store`` on SQLAlchemy 1.4: SQLite for development, PostgreSQL in production.

Why this shape: Rasa's action server is asyncio, SQLAlchemy 1.4 here is
blocking, so each call runs in a worker thread with its own short session
and returns frozen dataclasses (no session outlives a call).

Limits: nothing connects until the first call; connection failures (and any
other ``OperationalError``, e.g. a missing table or a locked SQLite file) become
``StoreUnavailable``. SQLite must be a file: an in-memory database would be
private to each worker thread. On SQLite, ``SELECT ... FOR UPDATE`` is a no-op, so the
check-and-set writes also guard the UPDATE itself with the allowed statuses.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import secrets
import threading
from decimal import Decimal
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from sqlalchemy import create_engine, event, func, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, joinedload, selectinload, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql import Select

from core.store.errors import (
    IncompleteEvent,
    NotEnoughUnits,
    OrderStateChanged,
    ReturnStateChanged,
    StoreUnavailable,
    UnknownItems,
    UnknownOrder,
    UnknownReturn,
)
from core.store.models import (
    Base,
    CustomerRow,
    OrderItemRow,
    OrderRow,
    RefundRow,
    ReturnExchangeRow,
    ReturnItemRow,
    ReturnRow,
    ShipmentRow,
    ShopEventRow,
    normalize_phone,
    utcnow,
)
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

T = TypeVar("T")

# Used only when a caller does not pass the policy's statuses.
CANCELLABLE_STATUSES: Tuple[str, ...] = ("pending_payment", "processing")
_RETURN_NUMBER_ATTEMPTS = 10


def mask_url(database_url: str) -> str:
    """The URL with its password hidden, safe to print or log."""
    return make_url(database_url).render_as_string(hide_password=True)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Per SQLite connection: foreign keys on (SQLite ignores them unless
    asked), WAL so readers never wait for the writer (the action server reads
    while the bridge writes the same file), synchronous=NORMAL so a commit does
    not fsync (a committed row survives a crash of the process; only a power
    cut may lose the last moments: use PostgreSQL where that matters)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_sql_engine(database_url: str, connect_timeout: float, pre_ping: bool = True) -> Engine:
    """The engine for the store's database, shared by the store and the bridge.
    ``pre_ping``: a server database's connections are pinged at every
    checkout (the bridge pings only idle ones itself: handoff/storage/engine.py).

    Why pooled on SQLite too: SQLAlchemy 1.4 gives a SQLite file a NullPool,
    which opens a new connection and runs its PRAGMAs for every transaction
    (a tenth of the action server's CPU under load). A pooled SQLite
    connection is used by one worker thread at a time; ``check_same_thread``
    is off only so it can move between them. Creating the engine does not
    connect (nor create a SQLite file's folder: ``make_sqlite_folder``).
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        # libpq takes whole seconds, minimum 2.
        return create_engine(url, future=True, pool_pre_ping=pre_ping,
                             connect_args={"connect_timeout": max(2, math.ceil(connect_timeout))})
    args: Dict[str, Any] = {"timeout": connect_timeout, "check_same_thread": False}
    if url.database in (None, "", ":memory:"):
        engine = create_engine(url, future=True, connect_args=args)
    else:
        engine = create_engine(url, future=True, poolclass=QueuePool, connect_args=args)
    event.listen(engine, "connect", sqlite_pragmas)
    return engine


def make_sqlite_folder(database_url: str) -> None:
    """Create a SQLite file's folder (when migrating, never on reads)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)


def new_return_number() -> str:
    """Random "DEV-" + 6 digits; unguessable so customers cannot probe others."""
    return "DEV-%06d" % secrets.randbelow(1_000_000)


class SqlStore:
    """The ``Store`` protocol over one SQLAlchemy engine (created lazily)."""

    def __init__(self, database_url: str, connect_timeout: float = 5.0) -> None:
        self.database_url = database_url
        self.connect_timeout = connect_timeout
        self._engine: Optional[Engine] = None
        self._sessions: Optional[sessionmaker] = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqlStore({mask_url(self.database_url)!r})"

    # -- plumbing ---------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine, created on first use (creating it does not connect)."""
        self._session_factory()
        assert self._engine is not None
        return self._engine

    def _session_factory(self) -> sessionmaker:
        with self._lock:
            if self._sessions is None:
                engine = create_sql_engine(self.database_url, self.connect_timeout)
                self._engine = engine
                self._sessions = sessionmaker(bind=engine, future=True)
            return self._sessions

    def run_in_transaction(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one fresh session and transaction, blocking; maps
        connection failures to StoreUnavailable. For admin tools (seed)."""
        sessions = self._session_factory()
        try:
            with sessions() as session, session.begin():
                return work(session)
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable ({type(exc.orig).__name__})") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable("database connection lost") from exc
            raise

    async def _run(self, work: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.run_in_transaction, work)

    def create_schema(self) -> None:
        """Bring the whole database's schema to the newest migration (and make
        the SQLite file's folder): ``migrations.upgrade``. Blocking."""
        import migrations  # not at import time: the action server never migrates

        try:
            migrations.upgrade(self.database_url)
        except OperationalError as exc:
            raise StoreUnavailable(f"database unavailable ({type(exc.orig).__name__})") from exc

    def empty_tables(self) -> None:
        """Delete every row of the store's tables, keeping the schema (which is
        the migrations'): ``seed --reset`` and tests. On PostgreSQL the ids
        start again at 1, as they do on SQLite. Blocking."""
        tables = list(reversed(Base.metadata.sorted_tables))

        def work(s: Session) -> None:
            if s.get_bind().dialect.name == "postgresql":
                s.execute(text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY"))
            else:
                for table in tables:
                    s.execute(table.delete())

        self.run_in_transaction(work)

    def dispose(self) -> None:
        """Close pooled connections; the store can still be used afterwards."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()

    # -- reads ------------------------------------------------------------

    async def ping(self) -> None:
        await self._run(lambda s: s.execute(text("SELECT 1")).scalar_one())

    async def get_order(self, order_id: str) -> Optional[Order]:
        def work(s: Session) -> Optional[Order]:
            row = s.execute(_order_query().where(OrderRow.order_id == order_id)).scalar_one_or_none()
            return _order(row) if row is not None else None

        return await self._run(work)

    async def get_customer_by_email(self, email: str) -> Optional[Customer]:
        wanted = (email or "").strip().lower()

        def work(s: Session) -> Optional[Customer]:
            row = s.execute(select(CustomerRow).where(CustomerRow.email == wanted)).scalar_one_or_none()
            return _customer(row) if row is not None else None

        return await self._run(work)

    async def get_customer_by_phone(self, phone: str) -> Optional[Customer]:
        """Exact match on normalised digits, else a unique match on the last
        digits (national numbers typed without country code). Needs 9+ digits;
        an ambiguous number gives None rather than the wrong customer."""
        digits = normalize_phone(phone)
        national = "".join(ch for ch in (phone or "") if ch.isdigit()).lstrip("0")

        def work(s: Session) -> Optional[Customer]:
            if len(digits) < 9:
                return None
            rows = s.execute(select(CustomerRow).where(CustomerRow.phone_digits == digits).limit(2)).scalars().all()
            if not rows and len(national) >= 9:
                rows = (
                    s.execute(
                        select(CustomerRow).where(CustomerRow.phone_digits.like("%" + national)).limit(2)
                    )
                    .scalars()
                    .all()
                )
            return _customer(rows[0]) if len(rows) == 1 else None

        return await self._run(work)

    async def order_products(self, order_ids: List[str]) -> Dict[str, List[Tuple[str, bool]]]:
        """For the reports: each known order's lines (in item order) as
        (product name, whether a return of the order holds that line: its
        return lines, any status), in one query per 500 orders (no full orders)."""
        wanted = sorted({str(o) for o in order_ids if o})
        returned = (select(ReturnItemRow.order_item_id).where(ReturnItemRow.order_item_id == OrderItemRow.id)
                    .exists().label("returned"))

        def work(s: Session) -> Dict[str, List[Tuple[str, bool]]]:
            found: Dict[str, List[Tuple[str, bool]]] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                for order_id, name, in_return in s.execute(
                        select(OrderItemRow.order_id, OrderItemRow.name, returned)
                        .where(OrderItemRow.order_id.in_(chunk))
                        .order_by(OrderItemRow.order_id, OrderItemRow.id)).all():
                    found.setdefault(order_id, []).append((name, bool(in_return)))
            return found

        return await self._run(work)

    async def orders_for_customer(self, customer_id: int) -> List[Order]:
        def work(s: Session) -> List[Order]:
            query = (
                _order_query()
                .where(OrderRow.customer_id == customer_id)
                .order_by(OrderRow.placed_at.desc(), OrderRow.order_id.desc())
            )
            return [_order(row) for row in s.execute(query).scalars().all()]

        return await self._run(work)

    # -- writes -----------------------------------------------------------

    async def cancel_order(
        self, order_id: str, refund_days: int, allowed_statuses: Sequence[str] = CANCELLABLE_STATUSES
    ) -> Order:
        """Cancel and, if the order was paid (processing), create a pending
        refund of its total. An order still in pending_payment was never
        charged, so it gets no refund. A missing order raises
        OrderStateChanged too."""

        allowed = tuple(allowed_statuses)

        def work(s: Session) -> Order:
            row = _lock_order(s, order_id, allowed)
            was_paid = row.status != "pending_payment"
            _guarded_update(s, order_id, allowed, status="cancelled")
            if was_paid:
                now = utcnow()
                s.add(
                    RefundRow(
                        order_id=order_id,
                        amount=row.total,
                        status="pending",
                        created_at=now,
                        expected_at=store_today(now) + dt.timedelta(days=refund_days),
                    )
                )
            s.flush()
            return _reload(s, order_id)

        return await self._run(work)

    async def update_shipping_address(
        self, order_id: str, address: Address, allowed_statuses: Sequence[str]
    ) -> Order:
        allowed = tuple(allowed_statuses)

        def work(s: Session) -> Order:
            _lock_order(s, order_id, allowed)
            _guarded_update(
                s,
                order_id,
                allowed,
                ship_street=address.street,
                ship_postal_code=address.postal_code,
                ship_city=address.city,
                ship_province=address.province,
                ship_country=address.country,
            )
            return _reload(s, order_id)

        return await self._run(work)

    async def create_return(
        self, order_id: str, item_ids: Sequence[int], reason: str, wanted_variant: Optional[str] = None,
        quantities: Optional[Mapping[int, int]] = None,
    ) -> Return:
        """Data only: eligibility (window, final sale, status, the units
        already in other returns) is the actions' business. With
        ``wanted_variant`` the return is an exchange (its ``return_exchanges``
        row is written in the same transaction). ``quantities``: the units of
        each line that go back (a line not in it: all its units). Raises
        UnknownItems if ``item_ids`` is empty or any id is not an item of the
        order (including an unknown order); NotEnoughUnits if a quantity is
        below one or above the line's."""
        wanted = sorted(set(int(i) for i in item_ids))
        asked = {int(k): int(v) for k, v in (quantities or {}).items()}

        def work(s: Session) -> Return:
            items = _order_items(s, order_id, wanted)
            units = {item.id: asked.get(item.id, item.quantity) for item in items}
            if any(not 1 <= units[item.id] <= item.quantity for item in items):
                raise NotEnoughUnits(f"order {order_id}: units asked {units}")
            row = _new_return(s, order_id, items, reason, wanted_variant, units)
            s.flush()
            return _return(row)

        return await self._retrying(work)

    async def convert_to_exchange(
        self, order_id: str, return_number: str, item_ids: Sequence[int], wanted_variant: str,
        quantities: Optional[Mapping[int, int]] = None,
    ) -> Return:
        """Turn (part of) a requested return into an exchange for
        ``wanted_variant``. The whole return: it keeps its number (the label
        the shopper already has still works). Some of its items, or some units
        of an item (``quantities``; by default all the return holds of each):
        those move to a new exchange record and the rest stays a return.
        Raises ReturnStateChanged unless the return is still 'requested', is
        not an exchange already and has no refund; UnknownItems if an item is
        not in it; NotEnoughUnits if more units are asked than it holds."""
        wanted = set(int(i) for i in item_ids)
        asked = {int(k): int(v) for k, v in (quantities or {}).items()}

        def work(s: Session) -> Return:
            row = s.execute(
                select(ReturnRow)
                .where(ReturnRow.return_number == return_number, ReturnRow.order_id == order_id)
                .with_for_update()
            ).scalar_one_or_none()
            if row is None:
                raise ReturnStateChanged(f"return {return_number} not found in order {order_id}")
            refunded = s.execute(
                select(func.count()).select_from(RefundRow).where(RefundRow.return_id == row.id)
            ).scalar_one()
            if row.status != "requested" or row.exchange is not None or refunded:
                raise ReturnStateChanged(f"return {return_number} can no longer become an exchange")
            lines = {line.order_item_id: line for line in row.lines}
            if not wanted or not wanted <= set(lines):
                raise UnknownItems(f"items {sorted(wanted - set(lines))} are not part of return {return_number}")
            held = {i: lines[i].units for i in wanted}
            units = {i: asked.get(i, held[i]) for i in wanted}
            if any(not 1 <= units[i] <= held[i] for i in wanted):
                raise NotEnoughUnits(f"return {return_number} holds {held}, asked {units}")
            if wanted == set(lines) and units == held:
                row.exchange = ReturnExchangeRow(wanted_variant=wanted_variant, created_at=utcnow())
                s.flush()
                return _return(row)
            moving = []
            for item_id in sorted(wanted):
                line = lines[item_id]
                moving.append(line.item)
                if units[item_id] == held[item_id]:
                    row.lines.remove(line)
                else:
                    line.quantity = held[item_id] - units[item_id]
            s.flush()  # the lines given up are gone before the new record takes them
            created = _new_return(s, order_id, moving, row.reason, wanted_variant, units)
            s.flush()
            return _return(created)

        return await self._retrying(work)

    async def apply_shop_event(self, event: ShopEvent) -> ShopEventOutcome:
        """The event's changes to its order, with the event's row, in one
        transaction. The row is written first: a second delivery of the same
        id (later, or racing this one from another bridge) fails on its key
        and changes nothing; on SQLite the first statement being a write also
        takes the file's write lock before anything is read. UnknownOrder,
        UnknownReturn and IncompleteEvent leave no row, so the shop's retry is
        applied once the data is there."""

        def work(s: Session) -> Order:
            s.add(ShopEventRow(event_id=event.event_id, topic=event.topic, order_id=event.order_id,
                               occurred_at=event.occurred_at, received_at=utcnow(), payload=event.payload))
            s.flush()  # IntegrityError: applied before, or (foreign key) an unknown order
            row = s.execute(
                select(OrderRow).where(OrderRow.order_id == event.order_id).with_for_update()
            ).scalar_one()
            _apply_event(s, row, event)
            s.flush()
            return _reload(s, event.order_id)

        def known(s: Session) -> Tuple[bool, bool]:
            return (s.get(ShopEventRow, event.event_id) is not None,
                    s.get(OrderRow, event.order_id) is not None)

        try:
            return ShopEventOutcome(applied=True, order=await self._run(work))
        except IntegrityError:
            applied_before, order_known = await self._run(known)
            if applied_before:
                return ShopEventOutcome(applied=False)
            if not order_known:
                raise UnknownOrder(f"order {event.order_id} not found") from None
            raise

    async def _retrying(self, work: Callable[[Session], T]) -> T:
        """Two concurrent calls could still draw the same free number (or
        convert the same return twice); the unique constraints catch it and
        the work is retried in a new transaction, where its checks see the
        winner."""
        attempts_left = 3
        while True:
            try:
                return await self._run(work)
            except IntegrityError:
                attempts_left -= 1
                if not attempts_left:
                    raise


# -- helpers (run inside a session) -------------------------------------------


def _order_query() -> Select:
    """SELECT of orders with everything ``_order`` reads, eagerly loaded."""
    return select(OrderRow).options(
        joinedload(OrderRow.customer),
        joinedload(OrderRow.shipment),
        selectinload(OrderRow.items),
        selectinload(OrderRow.returns).selectinload(ReturnRow.lines).joinedload(ReturnItemRow.item),
        selectinload(OrderRow.returns).joinedload(ReturnRow.exchange),
        selectinload(OrderRow.refunds).joinedload(RefundRow.return_),
    )


# What each topic makes the order's status when the event does not say.
TOPIC_STATUS: Dict[str, str] = {
    "order.shipped": "shipped",
    "order.out_for_delivery": "out_for_delivery",
    "order.delivered": "delivered",
}


# How far an order is along its delivery. Shops send webhooks in no guaranteed
# order and retry for hours (a late ``order.shipped`` after ``order.delivered``):
# an event never moves an order back along this line.
DELIVERY_PROGRESS: Dict[str, int] = {"pending_payment": 0, "processing": 1, "shipped": 2, "out_for_delivery": 3,
                                     "delivered": 4, "returned": 5}


def moves_back(current: str, new: str) -> bool:
    """Whether ``new`` is an earlier step of the delivery than ``current``
    ('cancelled', off the line, is taken as sent)."""
    return current in DELIVERY_PROGRESS and new in DELIVERY_PROGRESS and DELIVERY_PROGRESS[new] < DELIVERY_PROGRESS[current]


def _apply_event(s: Session, row: OrderRow, event: ShopEvent) -> None:
    """Status, dates, shipment, and the refund or return the topic is about.
    What the event does not say stays as stored; a status that would move the
    order back (``moves_back``: an older event arriving late) too."""
    status = event.status or TOPIC_STATUS.get(event.topic)
    if status and not moves_back(row.status, status):
        row.status = status
    if event.expected_delivery is not None:
        row.expected_delivery = event.expected_delivery
    _apply_shipment(s, row, event)
    if event.topic == "refund.issued":
        _apply_refund(s, row, event)
    elif event.topic == "return.received":
        _received_return(s, row, event).status = "received"


def _apply_shipment(s: Session, row: OrderRow, event: ShopEvent) -> None:
    ship = s.get(ShipmentRow, row.order_id)
    delivered_at = event.delivered_at or (event.occurred_at if event.topic == "order.delivered" else None)
    if ship is None:
        if not (event.carrier and event.tracking_number):
            if event.topic == "order.shipped":
                raise IncompleteEvent(f"order {row.order_id} has no shipment: carrier and tracking_number needed")
            return
        s.add(ShipmentRow(order_id=row.order_id, carrier=event.carrier, tracking_number=event.tracking_number,
                          shipped_at=event.shipped_at or event.occurred_at, delivered_at=delivered_at))
        return
    if event.carrier:
        ship.carrier = event.carrier
    if event.tracking_number:
        ship.tracking_number = event.tracking_number
    if event.shipped_at is not None:
        ship.shipped_at = event.shipped_at
    if delivered_at is not None:
        ship.delivered_at = delivered_at


def _received_return(s: Session, row: OrderRow, event: ShopEvent) -> ReturnRow:
    """The return the event names, else the order's newest one still
    'requested'; UnknownReturn when there is none."""
    query = select(ReturnRow).where(ReturnRow.order_id == row.order_id)
    if event.return_number:
        query = query.where(ReturnRow.return_number == event.return_number)
    else:
        query = query.where(ReturnRow.status == "requested").order_by(ReturnRow.id.desc()).limit(1)
    found = s.execute(query.with_for_update()).scalars().first()
    if found is None:
        raise UnknownReturn(f"order {row.order_id}: no return {event.return_number or '(requested)'}")
    return found


def _apply_refund(s: Session, row: OrderRow, event: ShopEvent) -> None:
    """The refund issued: the order's oldest refund not completed yet (of the
    return named, if one is) becomes completed with the event's amount and
    dates (and its return, if the event names one, is refunded); with none
    open, a completed refund is added."""
    issued = event.refund
    if issued is None:
        raise IncompleteEvent("refund.issued without refund")
    return_row = _received_return(s, row, event) if event.return_number else None
    open_refunds = select(RefundRow).where(RefundRow.order_id == row.order_id, RefundRow.status != "completed")
    if return_row is not None:
        open_refunds = open_refunds.where(RefundRow.return_id == return_row.id)
    refund = s.execute(open_refunds.order_by(RefundRow.id).limit(1).with_for_update()).scalars().first()
    when = issued.issued_at or event.occurred_at
    if refund is None:
        refund = RefundRow(order_id=row.order_id, return_id=return_row.id if return_row is not None else None,
                           created_at=when, expected_at=issued.expected_at or store_today(when))
        s.add(refund)
    refund.amount = issued.amount
    refund.status = "completed"
    refund.completed_at = when
    if issued.expected_at is not None:
        refund.expected_at = issued.expected_at
    if return_row is not None:
        return_row.status = "refunded"


def _order_items(s: Session, order_id: str, wanted: List[int]) -> List[OrderItemRow]:
    """The order's items with these ids; UnknownItems unless all are found."""
    items = (
        s.execute(select(OrderItemRow).where(OrderItemRow.order_id == order_id, OrderItemRow.id.in_(wanted)))
        .scalars()
        .all()
    )
    found = {item.id for item in items}
    if not wanted or found != set(wanted):
        missing = sorted(set(wanted) - found)
        raise UnknownItems(f"items {missing} are not part of order {order_id}")
    return list(items)


def _new_return(
    s: Session, order_id: str, items: List[OrderItemRow], reason: str, wanted_variant: Optional[str],
    units: Mapping[int, int],
) -> ReturnRow:
    row = ReturnRow(
        return_number=_free_return_number(s), order_id=order_id, status="requested",
        reason=reason, created_at=utcnow(),
    )
    row.lines = [ReturnItemRow(item=item, quantity=units[item.id]) for item in sorted(items, key=lambda i: i.id)]
    if wanted_variant:
        row.exchange = ReturnExchangeRow(wanted_variant=wanted_variant, created_at=row.created_at)
    s.add(row)
    return row


def store_today(now: dt.datetime) -> dt.date:
    """The store's date at ``now`` (its time zone): promised dates count from
    it, as the bot's answers do (a refund promised at 00:30 in Madrid counts
    from that day, not from UTC's yesterday)."""
    from core.policy import load_policy  # not at import time: the policy file is read when needed

    return load_policy().today(now)


def _lock_order(s: Session, order_id: str, allowed: Tuple[str, ...]) -> OrderRow:
    """Read and lock the order row (FOR UPDATE on PostgreSQL)."""
    row = s.execute(
        select(OrderRow).where(OrderRow.order_id == order_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise OrderStateChanged(f"order {order_id} not found")
    if row.status not in allowed:
        raise OrderStateChanged(f"order {order_id} is {row.status}")
    return row


def _guarded_update(s: Session, order_id: str, allowed: Tuple[str, ...], **values: object) -> None:
    """UPDATE only while the status is still allowed (atomic on SQLite too)."""
    result = s.execute(
        update(OrderRow)
        .where(OrderRow.order_id == order_id, OrderRow.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise OrderStateChanged(f"order {order_id} changed meanwhile")


def _reload(s: Session, order_id: str) -> Order:
    s.expire_all()
    row = s.execute(_order_query().where(OrderRow.order_id == order_id)).scalar_one()
    return _order(row)


def _free_return_number(s: Session) -> str:
    for _ in range(_RETURN_NUMBER_ATTEMPTS):
        number = new_return_number()
        taken = s.execute(
            select(func.count()).select_from(ReturnRow).where(ReturnRow.return_number == number)
        ).scalar_one()
        if not taken:
            return number
    raise RuntimeError("no free return number found")  # ~never with 1e6 numbers


# -- ORM rows -> frozen dataclasses -------------------------------------------


def _customer(row: CustomerRow) -> Customer:
    return Customer(id=row.id, email=row.email, name=row.name, phone=row.phone, country=row.country)


def _return(row: ReturnRow) -> Return:
    return Return(
        return_number=row.return_number,
        order_id=row.order_id,
        status=row.status,
        reason=row.reason,
        created_at=row.created_at,
        item_ids=tuple(line.order_item_id for line in row.lines),
        quantities=tuple(line.units for line in row.lines),
        kind="exchange" if row.exchange is not None else "return",
        wanted_variant=row.exchange.wanted_variant if row.exchange is not None else None,
    )


def _order(row: OrderRow) -> Order:
    ship = row.shipment
    return Order(
        order_id=row.order_id,
        customer=_customer(row.customer),
        status=row.status,
        placed_at=row.placed_at,
        expected_delivery=row.expected_delivery,
        total=Decimal(row.total),
        payment_method=row.payment_method,
        shipping_address=Address(
            street=row.ship_street,
            postal_code=row.ship_postal_code,
            city=row.ship_city,
            province=row.ship_province,
            country=row.ship_country,
        ),
        invoice_number=row.invoice_number,
        items=tuple(
            OrderItem(
                id=item.id,
                sku=item.sku,
                name=item.name,
                quantity=item.quantity,
                unit_price=Decimal(item.unit_price),
                final_sale=bool(item.final_sale),
            )
            for item in row.items
        ),
        shipment=(
            Shipment(
                carrier=ship.carrier,
                tracking_number=ship.tracking_number,
                shipped_at=ship.shipped_at,
                delivered_at=ship.delivered_at,
            )
            if ship is not None
            else None
        ),
        returns=tuple(_return(r) for r in row.returns),
        refunds=tuple(
            Refund(
                id=refund.id,
                order_id=refund.order_id,
                amount=Decimal(refund.amount),
                status=refund.status,
                created_at=refund.created_at,
                expected_at=refund.expected_at,
                completed_at=refund.completed_at,
                return_number=refund.return_.return_number if refund.return_ is not None else None,
            )
            for refund in row.refunds
        ),
    )


__all__ = ["CANCELLABLE_STATUSES", "SqlStore", "mask_url", "new_return_number"]
