"""Starting and stopping the stack's processes (action server, Rasa server,
handoff bridge).

Used by ``make run``/``make shell`` and by the end-to-end tests, so the tests
start the stack exactly as a user does. Each child gets its own process
group; ``stop()`` sends SIGTERM, then SIGKILL after a grace period.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from bot.settings import ROOT, Settings


class StartupError(RuntimeError):
    """A process died or did not answer in time while starting."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0, headers: Optional[Dict[str, str]] = None) -> bool:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    health_url: str


@dataclass
class Stack:
    settings: Settings
    python: str = sys.executable
    log_dir: Optional[str] = None
    children: List[Child] = field(default_factory=list)

    def _spawn(self, name: str, args: Sequence[str], health_url: str) -> Child:
        stdout = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            stdout = open(os.path.join(self.log_dir, f"{name}.log"), "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [self.python, *args],
            cwd=str(ROOT),
            env=self.settings.child_env(),
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            start_new_session=True,
        )
        child = Child(name, process, health_url)
        self.children.append(child)
        return child

    def start_actions(self) -> Child:
        return self._spawn(
            "actions",
            ["-m", "rasa_sdk", "--actions", "actions", "--port", str(self.settings.actions_port)],
            f"{self.settings.actions_url}/health",
        )

    def start_rasa(self) -> Child:
        if not self.settings.model_path.exists():
            raise StartupError(f"no trained model at {self.settings.model_path}: run `make train`")
        return self._spawn("rasa", ["-m", "bot.rasa_server"], f"{self.settings.rasa_url}/")

    def start_bridge(self) -> Child:
        """The handoff bridge: web widget, agent console, Telegram."""
        return self._spawn("bridge", ["-m", "handoff"], f"{self.settings.handoff_url}/health")

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Poll each child's health URL until it answers; fail fast if one dies."""
        deadline = time.monotonic() + timeout
        pending = list(self.children)
        while pending:
            for child in list(pending):
                code = child.process.poll()
                if code is not None:
                    raise StartupError(f"{child.name} exited with code {code} while starting")
                if http_ok(child.health_url):
                    pending.remove(child)
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise StartupError(f"{names} did not answer within {timeout:.0f} s")
            if pending:
                time.sleep(0.5)  # polling a child's start-up, not synchronising a test

    def stop(self, grace: float = 10.0) -> None:
        for child in self.children:
            if child.process.poll() is None:
                try:
                    os.killpg(child.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for child in self.children:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(child.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.process.wait(timeout=5)
        self.children.clear()

    def first_exited(self) -> Optional[Child]:
        return next((c for c in self.children if c.process.poll() is not None), None)


def rest_message(settings: Settings, sender: str, text: str, timeout: float = 30.0) -> list:
    """One message through Rasa's REST channel; the bot's replies."""
    body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
    request = urllib.request.Request(
        f"{settings.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))
