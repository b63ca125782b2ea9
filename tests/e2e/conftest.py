"""The real stack for end-to-end tests: the action server, the Rasa server
and the handoff bridge started exactly as ``make run`` starts them
(bot.processes), on free ports, over a freshly seeded SQLite store in a
temporary folder."""
from __future__ import annotations

import json
import socket
import uuid
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import os

import jwt
import pytest

from actions.store.seed import seed_store
from actions.store.sql import SqlStore
from bot.processes import Stack, rest_message
from bot.settings import ROOT, Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def e2e_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'store.db'}"
    store = SqlStore(url)
    seed_store(store)
    store.dispose()
    return url


@pytest.fixture(scope="session")
def stack(e2e_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    model = ROOT / "models" / "assistant.tar.gz"
    if not model.exists():
        pytest.fail("no trained model: run `make test` (it trains first)")
    settings = Settings.from_env({
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "HANDOFF_PORT": str(free_port()),
        "DATABASE_URL": e2e_database_url,
        "RASA_MODEL": str(model),
        "LOG_LEVEL": "WARNING",
    })
    processes = Stack(settings, log_dir=str(tmp_path_factory.mktemp("logs")))
    try:
        processes.start_actions()
        processes.start_rasa()
        processes.start_bridge()
        processes.wait_ready(timeout=300)
        yield settings
    finally:
        processes.stop()


class Shopper:
    """One conversation over Rasa's REST channel."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = "e2e-" + uuid.uuid4().hex[:12]

    def say(self, text: str) -> List[Dict[str, Any]]:
        return rest_message(self.settings, self.sender, text)

    def texts(self, text: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(text))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        token = jwt.encode({"user": {"username": "tests", "role": "admin"}},
                           self.settings.rasa_jwt_secret, algorithm="HS256")
        request = urllib.request.Request(
            f"{self.settings.rasa_url}{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode() or "null")

    def tracker(self) -> Dict[str, Any]:
        return self.api("GET", f"/conversations/{self.sender}/tracker")


@pytest.fixture
def shopper(stack: Settings) -> Shopper:
    return Shopper(stack)


@pytest.fixture(scope="session")
def make_agent(stack: Settings, e2e_database_url: str):
    """Creates a console agent with the real CLI (``python -m handoff agent
    add``) in the stack's database; returns (name, token)."""
    import subprocess
    import sys

    def create(name: str):
        env = dict(os.environ, DATABASE_URL=e2e_database_url)
        result = subprocess.run([sys.executable, "-m", "handoff", "agent", "add", name], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60, check=True)
        return name, result.stdout.strip().splitlines()[-1]

    return create
