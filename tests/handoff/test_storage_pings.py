"""PostgreSQL connections of the bridge's storage are pinged before use
only when idle (handoff/storage/engine.py, ``PING_IDLE_S``): a ping is a
round trip of its own on every message's path; a dead idle connection is
still replaced before it fails a transaction."""
from __future__ import annotations

from typing import Any, List

import psycopg2
import pytest

from handoff.storage import Storage
from handoff.storage import engine as engine_module

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio]


async def test_a_connection_in_use_is_not_pinged_before_each_transaction(fresh_postgres_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    storage = Storage(fresh_postgres_url)
    pings: List[Any] = []
    monkeypatch.setattr(storage.engine.dialect, "do_ping", lambda conn: pings.append(conn) or True)
    try:
        for _ in range(5):
            assert await storage.ping()
    finally:
        storage.dispose()
    assert pings == []


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(fresh_postgres_url: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    storage = Storage(fresh_postgres_url)
    try:
        pid = await storage.run(lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=3)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        admin.close()
        monkeypatch.setattr(engine_module, "PING_IDLE_S", 0.0)  # every connection counts as idle
        again = await storage.run(lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        assert again != pid
    finally:
        storage.dispose()
