"""Blocking store calls (SQLAlchemy) run in a few threads, off the Rasa
worker's event loop.

Why: the SQL tracker store does its network round trips synchronously; on
the event loop, a worker serves no other conversation while it waits for
PostgreSQL (41% of a worker's samples, py-spy; docs/benchmarks.md, "Rasa
workers"). The Redis lock store no longer needs it: its calls are one Lua
script each on redis-py's asyncio client (bot/lock_store.py).

Limits:
- the executor is made on first use in the process that uses it (Sanic forks
  its workers after the stores may have been built), with ``THREADS`` threads
  per store; more calls queue;
- a call is shielded from the cancellation of its caller: once asked, it
  runs to its end (a save or a lock's cleanup is not left half done); the
  caller just stops waiting for it;
- what is passed to a call must not change while it runs (callers pass
  copies); a call's own database connection lives and dies in its thread.
"""
from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

THREADS = 4  # per store: concurrent round trips of one worker to one server


class Offloader:
    """A small thread pool of one store, made lazily in the current process."""

    def __init__(self, name: str, threads: int = THREADS) -> None:
        self._name = name
        self._threads = threads
        self._executor: Optional[ThreadPoolExecutor] = None
        self._pid = 0

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix=self._name)
            self._pid = os.getpid()
        return self._executor

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a thread of the pool; its result or exception."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool(), functools.partial(function, *args))
        return await asyncio.shield(future)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
