"""Databases as mains before Alembic left them, for the upgrade tests.

``create_main_schema`` replays main's own DDL (main_schema.<dialect>.sql,
captured from the engine when the three ``create_schema`` methods ran on a
fresh database), then takes away what an earlier main did not have yet.
No ``alembic_version`` table, as on a shop's database. ``fill_every_table``
puts rows in every table, generated from the reflected columns so the
fixture never follows the models.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import sqlalchemy as sa

HERE = Path(__file__).parent

# What came after the first handoff tables (git log of the three owners):
# tables an earlier main may not have, and columns its ALTERs added at start.
LATER_TABLES = ("return_exchanges", "handoff_turns", "handoff_attachments", "handoff_profiles",
                "handoff_telegram_chats", "handoff_telegram_updates", "handoff_telegram_outbox",
                "handoff_telegram_buttons")
LATER_COLUMNS = {"handoff_episodes": ("outcome", "ended_at"),
                 "handoff_messages": ("delivered_at",),
                 "handoff_telegram_buttons": ("message_id",)}
BACKFILLED = object()  # a column a revision fills in from other rows (not a constant)
# Columns later revisions add to main's tables, with what an old row reads in them.
REVISION_COLUMNS = {"handoff_agents": {"role": "agent"},
                    "return_items": {"quantity": None},  # 0004: NULL is the whole line
                    "handoff_conversations": {"customer_id": None, "customer_linked_by": None,
                                              # 0003 fills these from the old messages and episodes
                                              "first_customer_at": BACKFILLED, "first_handoff_at": BACKFILLED,
                                              "nps_episode_id": None}}
STORE_TABLES = ("customers", "orders", "order_items", "shipments", "returns", "return_items",
                "return_exchanges", "refunds")

Rows = Dict[str, List[Tuple[Any, ...]]]


def main_statements(dialect: str) -> List[str]:
    text = (HERE / f"main_schema.{dialect}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [s.strip() for s in body.split(";\n") if s.strip()]


def create_main_schema(url: str, drop_tables: Iterable[str] = (), drop_columns: Mapping[str, Sequence[str]] = (),
                       only_tables: Iterable[str] = ()) -> None:
    """Main's schema (all of it, or the tables of ``only_tables``), without
    ``drop_tables`` and ``drop_columns``."""
    engine = sa.create_engine(url, future=True)
    keep = set(only_tables)
    try:
        with engine.begin() as conn:
            for statement in main_statements(engine.dialect.name):
                if keep and _table_of(statement) not in keep:
                    continue
                conn.exec_driver_sql(statement)
            for name, columns in dict(drop_columns).items():
                if name in drop_tables or (keep and name not in keep):
                    continue
                for column in columns:
                    conn.exec_driver_sql(f"ALTER TABLE {name} DROP COLUMN {column}")
            for name in reversed(list(drop_tables)):  # dependants first
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    finally:
        engine.dispose()


def _table_of(statement: str) -> str:
    words = statement.split()
    if words[:2] == ["CREATE", "TABLE"]:
        return words[2]
    return words[words.index("ON") + 1]  # CREATE [UNIQUE] INDEX name ON table (...)


def _ours(name: str, _meta: Any = None) -> bool:
    """The project's tables (not SQLite's own, not Alembic's)."""
    return not name.startswith("sqlite_") and name != "alembic_version"


def _value(column: sa.Column, k: int) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return k % 2 == 0
    if isinstance(kind, sa.BigInteger):
        return 10_000_000_000 + k
    if isinstance(kind, sa.Integer):
        return k
    if isinstance(kind, sa.Float):
        return 1.5 * k
    if isinstance(kind, sa.Numeric):
        return Decimal(f"{k}9.95")
    if isinstance(kind, sa.DateTime):
        moment = dt.datetime(2025, 11, 24, 10 + k, 30, 15, 123000)
        return moment.replace(tzinfo=dt.timezone.utc) if kind.timezone else moment
    if isinstance(kind, sa.Date):
        return dt.date(2025, 11, 20 + k)
    if isinstance(kind, sa.LargeBinary):
        return bytes([k]) * 32
    if isinstance(kind, sa.String) and kind.length is None:  # TEXT
        return f"v{k}: ñandú, 12,50 € «entregado»"
    if isinstance(kind, sa.String):
        return f"v{k}"  # the same in every key and foreign key of row k
    raise AssertionError(f"no test value for {column.table.name}.{column.name} ({kind!r})")


def fill_every_table(url: str, rows_per_table: int = 2) -> Rows:
    """Rows ``k = 1..n`` in every table (row k's foreign keys point at the
    other tables' row k); returns what was written, as ``read_rows`` reads it."""
    engine = sa.create_engine(url, future=True)
    try:
        with engine.begin() as conn:
            meta = sa.MetaData()
            meta.reflect(conn, only=_ours)
            for table in meta.sorted_tables:
                conn.execute(table.insert(), [{c.name: _value(c, k) for c in table.columns}
                                              for k in range(1, rows_per_table + 1)])
        return read_rows(url)
    finally:
        engine.dispose()


def read_rows(url: str, columns: Optional[Mapping[str, Sequence[str]]] = None) -> Rows:
    """Every row of every table but alembic_version, ordered by primary key;
    with ``columns``, only those tables, read as those columns (all if empty)."""
    engine = sa.create_engine(url, future=True)
    wanted = None if columns is None else dict(columns)
    try:
        with engine.connect() as conn:
            meta = sa.MetaData()
            meta.reflect(conn, only=_ours)
            found: Rows = {}
            for table in meta.sorted_tables:
                if wanted is not None and table.name not in wanted:
                    continue
                names = (wanted or {}).get(table.name) or [c.name for c in table.columns]
                query = sa.select(*[table.c[n] for n in names]).order_by(*table.primary_key.columns)
                found[table.name] = [tuple(r) for r in conn.execute(query)]
            return found
    finally:
        engine.dispose()


def column_names(url: str) -> Dict[str, List[str]]:
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names() if _ours(t)}
    finally:
        engine.dispose()


def run(url: str, work: Any) -> Any:
    """``work(conn)`` in one transaction on a short-lived engine."""
    engine = sa.create_engine(url, future=True)
    try:
        with engine.begin() as conn:  # type: Connection
            return work(conn)
    finally:
        engine.dispose()
