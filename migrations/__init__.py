"""Schema migrations of the whole database (the store's tables and the bridge's
``handoff_*`` tables): one Alembic history, ``migrations/versions/``.

Why one history: the store, the bridge and its Telegram channel share one
database, and a shop's data must survive every change of it. Nothing else
creates or alters tables: ``upgrade()`` is called by ``make setup``/``make
run`` (``python -m migrations``), by ``python -m core.store.seed``, by the
bridge at start and by the tests.

A database made before Alembic (no ``alembic_version`` table; by an earlier
main, perhaps without the tables and columns added since) is adopted by the
first revision, which creates only what is missing (see
``versions/0001_baseline.py``).

Limits: ``upgrade`` holds a lock for the whole run (PostgreSQL: an advisory
lock; SQLite: ``BEGIN IMMEDIATE``), so two processes starting together
migrate once, and a failed run leaves the schema as it was (both databases
run the DDL in one transaction). Offline (``--sql``) mode is not supported.
Imports neither rasa nor rasa_sdk (the bridge uses it); the models are
imported only for autogenerate/compare (``target_metadata``).
"""
from __future__ import annotations

import os
from typing import Any, List, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Any constant shared by every migrating process (PostgreSQL advisory lock key).
PG_LOCK_KEY = 0x5C4E3A


def config(database_url: Optional[str] = None, connection: Optional[Connection] = None) -> Any:
    """An Alembic ``Config`` for this history (no alembic.ini needed), for
    ``alembic.command`` calls; with ``connection``, env.py runs on it."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", HERE)
    if database_url is not None:
        cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
        cfg.attributes["with_models"] = False  # upgrading runs the revisions, never compares
    return cfg


def migration_engine(database_url: str) -> Engine:
    """An engine for migrating only: on SQLite, DDL runs in a real transaction
    that takes the write lock first (``BEGIN IMMEDIATE``); pysqlite would
    otherwise commit before each DDL statement."""
    from core.store.sql import make_sqlite_folder

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, future=True, poolclass=_null_pool())
    make_sqlite_folder(database_url)
    engine = create_engine(url, future=True, poolclass=_null_pool(),
                           connect_args={"isolation_level": None, "timeout": 30})

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest). Idempotent:
    at that revision already, it only reads ``alembic_version``. Blocking."""
    from alembic import command

    engine = migration_engine(database_url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
            command.upgrade(config(database_url, conn), revision)
    finally:
        engine.dispose()


def current(database_url: str) -> Optional[str]:
    """The database's revision (None: not under Alembic yet, or empty)."""
    from alembic.runtime.migration import MigrationContext

    engine = migration_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision of the history."""
    from alembic.script import ScriptDirectory

    newest = ScriptDirectory.from_config(config()).get_current_head()
    if newest is None:
        raise RuntimeError("migrations/versions holds no revision")
    return newest


def target_metadata() -> List[Any]:
    """What the models declare (the store's, the bridge's, the Telegram
    channel's, the order updates' tables): what autogenerate compares the database with."""
    from core.store.models import Base
    from handoff.channels.telegram import metadata as telegram_metadata
    from handoff.notifications import metadata as notifications_metadata
    from handoff.storage import metadata as handoff_metadata

    return [Base.metadata, handoff_metadata, telegram_metadata, notifications_metadata]


def _include_name(name: Optional[str], type_: str, _parent: Any) -> bool:
    # SQLAlchemy 1.4 reflects SQLite's own sqlite_sequence (AUTOINCREMENT
    # tables): autogenerate would otherwise propose to drop it.
    return not (type_ == "table" and (name or "").startswith("sqlite_"))


def compare_options() -> dict:
    """The options env.py and the schema check use for autogenerate."""
    return {"compare_type": True, "compare_server_default": True, "include_name": _include_name,
            "render_as_batch": True}  # SQLite alters tables by copying them
