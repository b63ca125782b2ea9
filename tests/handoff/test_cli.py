"""``python -m handoff agent add NAME`` prints the token alone on the last line."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from handoff.agents import authenticate
from handoff.storage import Storage

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.asyncio
async def test_agent_add_prints_a_working_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = dict(os.environ, DATABASE_URL=url)
    done = subprocess.run([sys.executable, "-m", "handoff", "agent", "add", "Ana López"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    storage = Storage(url)
    try:
        agent = await authenticate(storage, token)
    finally:
        storage.dispose()
    assert agent is not None and agent.name == "Ana López"


def test_a_second_agent_with_the_same_name_is_refused(tmp_path: Path) -> None:
    """Walkthrough: two «Marta» could be created; the console, transfers and
    reports then cannot tell them apart. The second is refused, any case."""
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")

    def add(name: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "handoff", "agent", "add", name], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)

    assert add("Marta").returncode == 0
    again = add(" marta ")
    assert again.returncode == 1 and "ya existe un agente llamado «Marta»" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr and again.stdout.strip() == ""
    assert add("Marta G.").returncode == 0
