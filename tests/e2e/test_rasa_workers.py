"""Two Rasa workers (SANIC_WORKERS=2) on Rasa's SQL tracker store
(PostgreSQL) and RedisLockStore, started as ``python -m bot`` starts Rasa,
against the real servers on their standard local ports.

One conversation gets many messages at once, spread over both workers by
the kernel: every message is processed whole before the next one starts
(each user turn in the stored tracker ends with ``action_listen`` before
the next user event), none is lost, and the conversation survives a restart
of Rasa because it lives in PostgreSQL.
"""
from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import redis
from sqlalchemy.engine import make_url

from bot.processes import Stack, free_port, rasa_message
from bot.settings import ROOT, Settings
from tests.conftest import _pg_database
from tests.e2e.conftest import Shopper

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MESSAGES = ["¿el envío es gratis?", "¿cuánto tarda en llegar?", "¿tienen teléfono?", "¿aceptan bizum?",
            "¿cuántos días tengo para devolver?", "gracias", "¿envían a México?", "vale"]


def _redis_or_skip() -> None:
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=3).ping()
    except redis.exceptions.RedisError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"Redis unreachable at 127.0.0.1:6379: {exc} (REQUIRE_POSTGRES=1 needs the local services)")
        pytest.skip(f"Redis unreachable at 127.0.0.1:6379: {exc}")


@pytest.fixture
def scaled_rasa(e2e_database_url: str, tmp_path: Path) -> Iterator[Stack]:
    _redis_or_skip()
    with _pg_database() as tracker_url:
        settings = Settings.from_env({
            "RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port()),
            "DATABASE_URL": e2e_database_url, "RASA_MODEL": str(ROOT / "models" / "assistant.tar.gz"),
            "LOG_LEVEL": "INFO", "SANIC_WORKERS": "2",
            "RASA_TRACKER_STORE": "sql", "RASA_TRACKER_DB": str(make_url(tracker_url).database),
            "RASA_LOCK_STORE": "redis", "RASA_LOCK_KEY_PREFIX": "test" + secrets.token_hex(4),
        })
        stack = Stack(settings, log_dir=str(tmp_path))
        try:
            stack.start_actions()
            stack.start_rasa()
            stack.wait_ready(timeout=300)
            yield stack
        finally:
            stack.stop()


def _workers(pid: int) -> List[int]:
    """The Sanic worker processes under Rasa's main process."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


def _turns(tracker: Dict[str, Any]) -> List[List[str]]:
    """The tracker's events since its session start, cut at each user event."""
    turns: List[List[str]] = []
    for event in tracker["events"]:
        kind = event["event"]
        if kind == "user":
            turns.append(["user:" + str(event.get("text"))])
        elif turns and kind in ("action", "bot"):
            turns[-1].append(kind + ":" + str(event.get("name") or event.get("text") or ""))
    return turns


def test_one_conversation_on_two_workers_is_processed_one_message_at_a_time(scaled_rasa: Stack) -> None:
    settings = scaled_rasa.settings
    rasa = next(c for c in scaled_rasa.children if c.name == "rasa")
    assert len(_workers(rasa.process.pid)) == 2, "Rasa should run two Sanic workers"
    shopper = Shopper(settings)
    first = rasa_message(settings, shopper.sender, "hola")
    assert first, "the greeting gets an answer"

    with ThreadPoolExecutor(max_workers=len(MESSAGES)) as pool:
        replies = list(pool.map(lambda text: rasa_message(settings, shopper.sender, text, timeout=120), MESSAGES))
    assert all(replies), "every message got its answer"

    turns = _turns(shopper.tracker())
    said = [turn[0].removeprefix("user:") for turn in turns]
    assert sorted(said) == sorted(["hola"] + MESSAGES), "no message lost or doubled"
    for turn in turns:
        # processed whole: the turn ends listening before the next user event
        assert turn[-1] == "action:action_listen", turns
        assert any(step.startswith("bot:") for step in turn), f"a turn without an answer: {turn}"

    # The conversation lives in PostgreSQL: a new Rasa process goes on with it.
    scaled_rasa.stop()
    again = Stack(settings, log_dir=scaled_rasa.log_dir)
    try:
        again.start_actions()
        again.start_rasa()
        again.wait_ready(timeout=300)
        assert [t[0] for t in _turns(shopper.tracker())] == [t[0] for t in turns]
        assert rasa_message(settings, shopper.sender, "adiós")
        assert len(_turns(shopper.tracker())) == len(turns) + 1
    finally:
        again.stop()
