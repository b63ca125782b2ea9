"""Connection handling: lazy engine, StoreUnavailable, no leaked passwords."""
from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from core.store import create_store
from core.store import sql as sql_module
from core.store.errors import StoreUnavailable
from core.store.sql import SqlStore, mask_url

UNREACHABLE_PG = "postgresql://postgres:s3cret@127.0.0.1:1/postgres"


def test_constructing_does_not_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_engine(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("engine created at construction")

    monkeypatch.setattr(sql_module, "create_engine", no_engine)
    store = SqlStore(UNREACHABLE_PG)
    assert isinstance(create_store(UNREACHABLE_PG), SqlStore)
    store.dispose()  # nothing to close yet, must not connect either


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "url", [UNREACHABLE_PG, "sqlite:////nonexistent-folder/for/sure/store.db"], ids=["postgresql", "sqlite"]
)
async def test_unreachable_database_raises_store_unavailable(url: str) -> None:
    store = SqlStore(url, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        await store.ping()
    assert isinstance(info.value.__cause__, DBAPIError)
    with pytest.raises(StoreUnavailable):
        await store.get_order("123456")
    with pytest.raises(StoreUnavailable):
        await store.cancel_order("123456", 7)
    assert time.monotonic() - started < 15
    assert "s3cret" not in str(info.value)
    store.dispose()


@pytest.mark.asyncio
async def test_ping_succeeds_on_a_live_database(store: SqlStore) -> None:
    await store.ping()


def test_password_is_masked() -> None:
    assert "s3cret" not in mask_url(UNREACHABLE_PG)
    assert "s3cret" not in repr(SqlStore(UNREACHABLE_PG))
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
