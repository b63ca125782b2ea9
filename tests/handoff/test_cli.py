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
