"""The bridge process's garbage collector once it serves (handoff/server.py,
``settle_heap``): start-up's objects are frozen out of later collections and
the thresholds raised, so full collections, which walk every session's
objects on the event loop, neither come every few seconds nor walk the
modules each time."""
from __future__ import annotations

import asyncio
import gc
from typing import Any, Iterator, List

import pytest

from handoff import server as server_module
from handoff.server import GC_THRESHOLDS, BridgeServer, settle_heap
from handoff.settings import HandoffSettings


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settling_freezes_what_start_up_made_and_raises_the_thresholds(restored_gc: None) -> None:
    gc.unfreeze()
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[2] > 10  # CPython's default: 700, 10, 10


@pytest.mark.asyncio
async def test_the_bridge_process_settles_its_heap_once_started(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Any) -> None:
    steps: List[str] = []
    server = BridgeServer(HandoffSettings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}))

    async def start() -> int:
        steps.append("start")
        return 0

    async def stop() -> None:
        steps.append("stop")

    monkeypatch.setattr(server, "start", start)
    monkeypatch.setattr(server, "stop", stop)
    monkeypatch.setattr(server_module, "settle_heap", lambda: steps.append("settle"))
    done = asyncio.Event()
    done.set()
    await server.serve_forever(done)
    assert steps == ["start", "settle", "stop"]
