"""Load data/store/demo_store.json into the SQL store.

Why: the demo and the tests need a shop with orders in every state; the JSON
holds relative days, resolved here against "now" (UTC), so the data stays
meaningful whenever it is seeded.

Limits: idempotent by key only. Customers are matched by e-mail and orders by
order_id; an existing row is never updated, so re-seeding on a later day
keeps the older dates (use ``--reset`` to start over: it empties the store's
tables, never drops them; the schema is the migrations').

CLI: ``python -m core.store.seed [--database-url URL] [--reset]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store import default_database_url
from core.store.errors import StoreUnavailable
from core.store.models import (
    CustomerRow,
    OrderItemRow,
    OrderRow,
    RefundRow,
    ReturnItemRow,
    ReturnRow,
    ShipmentRow,
    normalize_phone,
)
from core.store.sql import SqlStore, mask_url, store_today

DEMO_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "data",
    "store",
    "demo_store.json",
)

Json = Dict[str, Any]


@dataclass(frozen=True)
class SeedResult:
    customers_added: int
    orders_added: int
    customers_total: int
    orders_total: int


def load_demo_data(path: str = DEMO_PATH) -> Json:
    """The demo JSON with amounts as Decimal (exact money)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, parse_float=Decimal)


def seed_store(
    store_or_url: Union[SqlStore, str],
    path: str = DEMO_PATH,
    now: Optional[dt.datetime] = None,
) -> SeedResult:
    """Migrate the database (``migrations.upgrade``) and insert the missing
    customers and orders. Blocking.

    A URL gets its own short-lived SqlStore; a SqlStore passed in stays open.
    """
    data = load_demo_data(path)
    moment = now or dt.datetime.now(dt.timezone.utc)
    store = SqlStore(store_or_url) if isinstance(store_or_url, str) else store_or_url
    try:
        store.create_schema()
        return store.run_in_transaction(lambda s: _seed(s, data, moment))
    finally:
        if store is not store_or_url:
            store.dispose()


def _seed(s: Session, data: Json, now: dt.datetime) -> SeedResult:
    # days count from the store's today (its time zone), the day the bot calls today: from UTC's, an
    # order due "today" read as late in Madrid's first hour after midnight
    today = store_today(now)

    def ago(days: Optional[int]) -> Optional[dt.datetime]:
        return None if days is None else now - dt.timedelta(days=days)

    def in_days(days: int) -> dt.date:
        return today + dt.timedelta(days=days)

    known = {email for (email,) in s.execute(select(CustomerRow.email))}
    customers_added = 0
    for c in data["customers"]:
        email = c["email"].strip().lower()
        if email in known:
            continue
        s.add(
            CustomerRow(
                email=email,
                name=c["name"],
                phone=c["phone"],
                phone_digits=normalize_phone(c["phone"]),
                country=c["country"],
                city=c["city"],
                created_at=now,
            )
        )
        known.add(email)
        customers_added += 1
    s.flush()
    ids = {email: cid for cid, email in s.execute(select(CustomerRow.id, CustomerRow.email))}

    existing = {oid for (oid,) in s.execute(select(OrderRow.order_id))}
    orders_added = 0
    for o in data["orders"]:
        if o["order_id"] in existing:
            continue
        addr = o["shipping_address"]
        order = OrderRow(
            order_id=o["order_id"],
            customer_id=ids[o["email"].strip().lower()],
            status=o["status"],
            placed_at=ago(o["placed_days_ago"]),
            expected_delivery=in_days(o["expected_delivery_in_days"]),
            total=Decimal(o["total"]),
            payment_method=o["payment_method"],
            ship_street=addr["street"],
            ship_postal_code=addr["postal_code"],
            ship_city=addr["city"],
            ship_province=addr.get("province", ""),
            ship_country=addr.get("country", "España"),
            invoice_number=o.get("invoice_number"),
        )
        items = [
            OrderItemRow(
                sku=i["sku"],
                name=i["name"],
                quantity=i["quantity"],
                unit_price=Decimal(i["unit_price"]),
                final_sale=bool(i["final_sale"]),
            )
            for i in o["items"]
        ]
        order.items = items
        if o.get("carrier"):
            order.shipment = ShipmentRow(
                carrier=o["carrier"],
                tracking_number=o["tracking_number"],
                shipped_at=ago(o["shipped_days_ago"]),
                delivered_at=ago(o.get("delivered_days_ago")),
            )
        returns = {r["return_number"]: _return_row(r, items, ago) for r in o.get("returns", [])}
        order.returns = list(returns.values())
        order.refunds = [
            RefundRow(
                amount=Decimal(f["amount"]),
                status=f["status"],
                created_at=ago(f["created_days_ago"]),
                expected_at=in_days(f["expected_in_days"]),
                completed_at=ago(f.get("completed_days_ago")),
                return_=returns[f["return_number"]] if f.get("return_number") else None,
            )
            for f in o.get("refunds", [])
        ]
        s.add(order)
        orders_added += 1
    s.flush()
    return SeedResult(
        customers_added=customers_added,
        orders_added=orders_added,
        customers_total=s.execute(select(func.count()).select_from(CustomerRow)).scalar_one(),
        orders_total=s.execute(select(func.count()).select_from(OrderRow)).scalar_one(),
    )


def _return_row(
    r: Json, items: List[OrderItemRow], ago: Callable[[Optional[int]], Optional[dt.datetime]]
) -> ReturnRow:
    by_sku = {item.sku: item for item in items}
    return ReturnRow(
        return_number=r["return_number"],
        status=r["status"],
        reason=r["reason"],
        created_at=ago(r["created_days_ago"]),
        # whole lines unless the demo return says how many units ("quantities": {sku: n})
        lines=[ReturnItemRow(item=by_sku[sku], quantity=(r.get("quantities") or {}).get(sku, by_sku[sku].quantity))
               for sku in r["item_skus"]],
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.store.seed", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: $DATABASE_URL, else SQLite in var/store.db")
    parser.add_argument("--reset", action="store_true", help="empty the store's tables first (the bridge's are kept)")
    parser.add_argument("--path", default=DEMO_PATH, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    url = args.database_url or default_database_url()
    store = SqlStore(url)
    try:
        if args.reset:
            store.create_schema()
            store.empty_tables()
        result = seed_store(store, args.path)
    except StoreUnavailable as exc:
        print(f"Cannot seed {mask_url(url)}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.dispose()
    print(
        f"Seeded {mask_url(url)}{' (reset)' if args.reset else ''}: "
        f"{result.customers_total} customers (+{result.customers_added}), "
        f"{result.orders_total} orders (+{result.orders_added})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
