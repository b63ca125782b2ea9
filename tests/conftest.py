"""Fixtures shared by the whole test suite.

``database_url`` runs a test on SQLite (a file in tmp_path) and on PostgreSQL
(one throw-away database per session); ``empty_database_url`` gives a test a
database of its own without any schema (a fresh PostgreSQL one per test).
Schemas are made by ``migrations.upgrade`` (through ``seed_store`` or the
bridge's start), never by ``create_all``. PostgreSQL tests are skipped when the
server is unreachable, unless REQUIRE_POSTGRES=1 (then they fail).
TEST_POSTGRES_URL overrides the server (default
postgresql://postgres@127.0.0.1:5432/), TEST_POSTGRES_PREFIX the throw-away
databases' names (default ``shoptest_``; one per checkout sharing a server).

Async tests are marked ``@pytest.mark.asyncio`` explicitly (no asyncio_mode
setting is assumed).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import psycopg2
import pytest
from psycopg2 import sql as pgsql
from sqlalchemy.engine import URL, make_url

from bot.processes import Stack, free_port
from bot.settings import ROOT, Settings
from core.store.seed import load_demo_data, seed_store
from core.store.sql import SqlStore, mask_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/"


def _pg_connect(url: URL, database: str) -> Any:
    conn = psycopg2.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=database,
        connect_timeout=3,
    )
    conn.autocommit = True
    return conn


def _pg_server() -> Tuple[URL, Any]:
    """The test server's URL and an autocommit admin connection (skip, or
    fail with REQUIRE_POSTGRES=1, when it is unreachable)."""
    server = make_url(os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    try:
        return server, _pg_connect(server, server.database or "postgres")
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL unreachable at {mask_url(str(server))}: {' '.join(str(exc).split())}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (REQUIRE_POSTGRES=1)")
        pytest.skip(reason)


@contextlib.contextmanager
def _pg_database(template: Optional[str] = None) -> Iterator[str]:
    """A database ``<TEST_POSTGRES_PREFIX><hex>`` (default ``shoptest_<hex>``; a
    copy of ``template`` if given), dropped after."""
    server, admin = _pg_server()
    name = (os.environ.get("TEST_POSTGRES_PREFIX") or "shoptest_") + secrets.token_hex(6)
    create = pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name))
    if template:
        create = pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(pgsql.Identifier(name), pgsql.Identifier(template))
    with admin.cursor() as cur:
        cur.execute(create)
    try:
        yield server.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(name)))
        admin.close()


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """URL of a fresh throw-away database, dropped after the session."""
    with _pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def seeded_postgres_template() -> Iterator[str]:
    """A database seeded with the demo store once, to copy from."""
    with _pg_database() as url:
        seed_store(url)
        yield str(make_url(url).database)


@pytest.fixture
def fresh_postgres_url(seeded_postgres_template: str) -> Iterator[str]:
    """A seeded database of this test's own (a copy of the template): the
    bridge's tables start empty, as on SQLite."""
    with _pg_database(seeded_postgres_template) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database of this test's own with nothing in it (no schema): SQLite
    (a file in tmp_path) and PostgreSQL (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _pg_database() as url:
        yield url


@pytest.fixture
def seeded_at() -> dt.datetime:
    """The "now" the store fixture seeds with, to check relative dates."""
    return dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def store(database_url: str, seeded_at: dt.datetime) -> Iterator[SqlStore]:
    """A SqlStore seeded with the demo data; the store's tables are emptied
    and seeded again per test (the PostgreSQL database is the session's)."""
    sql_store = SqlStore(database_url)
    sql_store.create_schema()
    sql_store.empty_tables()
    seed_store(sql_store, now=seeded_at)
    yield sql_store
    sql_store.dispose()


@pytest.fixture(scope="session")
def demo_data() -> Dict[str, Any]:
    """data/store/demo_store.json, amounts as Decimal."""
    return load_demo_data()


def two_orders_of_one_customer(demo_data: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The first two orders of the first demo customer who has two or more."""
    by_email: Dict[str, list] = {}
    for order in demo_data["orders"]:
        by_email.setdefault(order["email"], []).append(order)
    first, second = next(v for v in by_email.values() if len(v) >= 2)[:2]
    return first, second


# -- the real stack (action server, Rasa server, bridge), one per session ------


@pytest.fixture(scope="session")
def e2e_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'store.db'}"
    store = SqlStore(url)
    seed_store(store)
    store.dispose()
    return url


@pytest.fixture(scope="session")
def stack_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the stack's processes write their output (actions.log, rasa.log, bridge.log)."""
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def stack(e2e_database_url: str, stack_logs: Path) -> Iterator[Settings]:
    """Started exactly as ``make run`` starts it (bot.processes, at the
    default log level), on free ports, over a freshly seeded SQLite store in
    a temporary folder."""
    model = ROOT / "models" / "assistant.tar.gz"
    if not model.exists():
        pytest.fail("no trained model: run `make test` (it trains first)")
    settings = Settings.from_env({
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "HANDOFF_PORT": str(free_port()),
        "DATABASE_URL": e2e_database_url,
        "RASA_MODEL": str(model),
        "LOG_LEVEL": "INFO",
    })
    processes = Stack(settings, log_dir=str(stack_logs))
    try:
        processes.start_actions()
        processes.start_rasa()
        processes.start_bridge()
        processes.wait_ready(timeout=300)
        yield settings
    finally:
        processes.stop()


@pytest.fixture(scope="session")
def make_agent(stack: Settings, e2e_database_url: str):
    """Creates a console agent with the real CLI (``python -m handoff agent
    add``) in the stack's database; returns (name, token). The stack's
    database is shared by the session's tests and agent names are unique, so
    the name gets a short suffix ("Marta 3f2a"): use the name returned."""
    def create(name: str):
        env = dict(os.environ, DATABASE_URL=e2e_database_url)
        name = f"{name} {secrets.token_hex(2)}"
        result = subprocess.run([sys.executable, "-m", "handoff", "agent", "add", name], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60, check=True)
        return name, result.stdout.strip().splitlines()[-1]

    return create


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the local Redis (127.0.0.1:6379),
    its keys deleted afterwards; skipped when Redis is unreachable, failed
    with REQUIRE_POSTGRES=1 (CI needs the local services)."""
    import secrets

    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=3)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"Redis unreachable at 127.0.0.1:6379: {exc} (REQUIRE_POSTGRES=1 needs the local services)")
        pytest.skip(f"Redis unreachable at 127.0.0.1:6379: {exc}")
    prefix = f"test{secrets.token_hex(4)}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
