"""Supervision and stopping of ``python -m bot run`` (bot/processes.py),
with real processes: the supervisor is started as ``make run`` starts it, in
a process group of its own, on free ports over a seeded SQLite store; its
children are found by the pids it logs ("rasa arrancado (pid N)") and by
their sessions in /proc. Nothing sleeps to synchronise: every wait polls an
observable condition (a log line, a health URL, pids gone, ports free)
against a deadline.

Three full stack starts (each loads the Rasa model):
1. kill -9 Rasa: restarted with backoff while the rest keeps running; then a
   storm of SIGTERMs to the whole process group stops everything.
2. one SIGINT to the supervisor alone stops everything.
3. SIGKILL to the supervisor: the children go away by themselves.
Plus a fast one with tiny real processes: a child that keeps dying right
after each start makes the supervisor give up.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Set

import pytest

from bot.processes import GaveUp, RestartPolicy, Stack, StopRequest, Supervisor, free_port, http_answers, http_ok
from bot.settings import ROOT, Settings
from core.store.seed import seed_store
from core.store.sql import SqlStore

START_TIMEOUT = 300  # a Rasa start on a busy 2-core machine
STOP_TIMEOUT = 10
STARTED = re.compile(r"^(\w+) arrancado \(pid (\d+)\)$", re.M)


def until(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it is truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.1)  # polling interval, not synchronisation


def _proc_stat(pid: int) -> Optional[List[str]]:
    """(state, ppid, pgrp, session, ...) from /proc/PID/stat, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def alive(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie holds no port or memory


def in_sessions(sessions: Set[int]) -> Set[int]:
    """Live processes whose session is one of ``sessions`` (the supervisor's
    and each child's: they include any grandchild)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None and stat[0] != "Z" and int(stat[3]) in sessions:
                found.add(int(entry))
    return found


def port_free(port: int) -> bool:
    """A server could bind the port again (SO_REUSEADDR, as servers do)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
        return True


@dataclass
class Running:
    """``python -m bot run`` started as a test subprocess."""

    process: subprocess.Popen
    settings: Settings
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_line(self, pattern: str, timeout: float) -> re.Match:
        regex = re.compile(pattern, re.M)
        found = until(lambda: regex.search(self.output()), timeout, f"a line matching {pattern!r} in the log")
        return found  # type: ignore[return-value]

    def started(self) -> Dict[str, List[int]]:
        """Pids the supervisor logged, per child, in start order."""
        pids: Dict[str, List[int]] = {}
        for name, pid in STARTED.findall(self.output()):
            pids.setdefault(name, []).append(int(pid))
        return pids

    def sessions(self) -> Set[int]:
        return {self.process.pid} | {pid for pids in self.started().values() for pid in pids}

    def ports(self) -> List[int]:
        return [self.settings.rasa_port, self.settings.actions_port, self.settings.handoff_port]

    def wait_ready(self) -> None:
        until(lambda: http_ok(f"{self.settings.handoff_url}/health") or self.process.poll() is not None,
              START_TIMEOUT, "the bridge's /health answering 200")
        assert self.process.poll() is None, self.output()[-3000:]
        self.wait_line(r"^Listo\.$", 30)
        assert set(self.started()) == {"actions", "rasa", "bridge"}

    def assert_all_gone(self, deadline: float) -> None:
        """The supervisor and every process it started are gone by ``deadline``
        (monotonic) and the ports are free."""
        until(lambda: self.process.poll() is not None and not in_sessions(self.sessions()),
              max(0.0, deadline - time.monotonic()),
              "the supervisor and all its children gone")
        until(lambda: all(port_free(p) for p in self.ports()), 2, "the stack's ports free")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[], Running]]:
    """Starts ``python -m bot run`` (at most once per test); whatever is left
    is killed afterwards."""
    model = ROOT / "models" / "assistant.tar.gz"
    if not model.exists():
        pytest.fail("no trained model: run `make train`")
    started: List[Running] = []

    def start() -> Running:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        store = SqlStore(url)
        seed_store(store)
        store.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "HANDOFF_", "RASA_"))}
        env.update(RASA_PORT=str(free_port()), ACTIONS_PORT=str(free_port()), HANDOFF_PORT=str(free_port()),
                   DATABASE_URL=url, RASA_MODEL=str(model), LOG_LEVEL="INFO", PYTHONWARNINGS="ignore")
        log = tmp_path / "run.log"
        with open(log, "ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                       start_new_session=True)
        running = Running(process, Settings.from_env(env), log)
        started.append(running)
        return running

    yield start
    for running in started:
        leftovers = in_sessions(running.sessions())
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if running.process.poll() is None:
            running.process.kill()
        running.process.wait(timeout=10)
        if leftovers:
            print(running.output()[-5000:])


@pytest.mark.slow
def test_a_killed_rasa_is_restarted_and_a_sigterm_storm_stops_everything(launch: Callable[[], Running]) -> None:
    stack = launch()
    stack.wait_ready()
    pids = stack.started()
    rasa, actions, bridge = pids["rasa"][0], pids["actions"][0], pids["bridge"][0]

    # (a) Rasa dies: the supervisor says so and starts it again after 1 s.
    os.kill(rasa, signal.SIGKILL)
    stack.wait_line(r"^rasa se ha detenido \(código -9\); se reinicia en 1 s \(intento 1\)$", 10)
    # Meanwhile the bridge keeps serving (its /health answers, 503 while Rasa is
    # down) and the action server too.
    assert http_answers(f"{stack.settings.handoff_url}/health")
    assert http_ok(f"{stack.settings.actions_url}/health")
    until(lambda: len(stack.started().get("rasa", [])) == 2, 10, "a second rasa started")
    new_rasa = stack.started()["rasa"][1]
    assert new_rasa != rasa
    stack.wait_line(rf"^rasa vuelve a responder \(pid {new_rasa}\)$", START_TIMEOUT)
    assert http_ok(f"{stack.settings.rasa_url}/")
    until(lambda: http_ok(f"{stack.settings.handoff_url}/health"), 30, "the bridge seeing Rasa again")
    # The others were never restarted.
    assert stack.started()["actions"] == [actions] and stack.started()["bridge"] == [bridge]
    assert alive(actions) and alive(bridge) and stack.process.poll() is None

    # (b) SIGTERM to the whole process group, several times, also while stopping.
    deadline = time.monotonic() + STOP_TIMEOUT
    for _ in range(3):
        os.killpg(stack.process.pid, signal.SIGTERM)
    stack.wait_line(r"^Deteniendo\.\.\.$", STOP_TIMEOUT)
    for _ in range(5):
        try:
            os.killpg(stack.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            break
    stack.assert_all_gone(deadline)
    assert stack.process.returncode == 0, stack.output()[-3000:]
    assert "Detenido." in stack.output()
    # Nothing was restarted while stopping.
    assert len(stack.started()["rasa"]) == 2 and stack.started()["actions"] == [actions]


@pytest.mark.slow
def test_one_sigint_to_the_supervisor_stops_everything(launch: Callable[[], Running]) -> None:
    stack = launch()
    stack.wait_ready()
    deadline = time.monotonic() + STOP_TIMEOUT
    os.kill(stack.process.pid, signal.SIGINT)
    stack.assert_all_gone(deadline)
    assert stack.process.returncode == 0, stack.output()[-3000:]
    assert "se reinicia" not in stack.output()
    assert "Traceback" not in stack.output()


@pytest.mark.slow
def test_the_children_die_with_a_killed_supervisor(launch: Callable[[], Running]) -> None:
    stack = launch()
    stack.wait_ready()
    children = {pid for pids in stack.started().values() for pid in pids}
    assert all(alive(pid) for pid in children)
    deadline = time.monotonic() + STOP_TIMEOUT
    stack.process.kill()
    stack.assert_all_gone(deadline)
    assert stack.process.returncode == -signal.SIGKILL


# -- the restart policy, with tiny real processes (fast) ----------------------------


SERVE = ("import http.server, sys; http.server.test(http.server.SimpleHTTPRequestHandler, "
         "port=int(sys.argv[1]), bind='127.0.0.1')")
# Serves the first time; every later start dies at once (exit 3).
FLAKY = textwrap.dedent("""
    import os, sys
    marker = sys.argv[2]
    if os.path.exists(marker):
        sys.exit(3)
    open(marker, "w").close()
    import http.server
    http.server.test(http.server.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind="127.0.0.1")
""")


def test_a_child_that_keeps_dying_makes_the_supervisor_give_up(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = Settings.from_env({"RASA_PORT": str(free_port()), "ACTIONS_PORT": str(free_port())})
    stack = Stack(settings, log_dir=str(tmp_path / "logs"))
    steady_port, flaky_port = free_port(), free_port()
    policy = RestartPolicy(first_delay=0.05, max_delay=0.2, give_up_exits=5, give_up_window=60)
    try:
        steady = stack._spawn("steady", ["-c", SERVE, str(steady_port)], f"http://127.0.0.1:{steady_port}/")
        flaky = stack._spawn("flaky", ["-c", FLAKY, str(flaky_port), str(tmp_path / "marker")],
                             f"http://127.0.0.1:{flaky_port}/")
        assert stack.wait_ready(timeout=30)
        os.kill(flaky.process.pid, signal.SIGKILL)
        with pytest.raises(GaveUp, match="flaky se ha detenido .* 5 veces"):
            Supervisor(stack, StopRequest(), policy).run()
        steady_pid = steady.process.pid
        assert alive(steady_pid)
    finally:
        stack.stop()
    assert not alive(steady_pid) and port_free(steady_port)
    err = capsys.readouterr().err
    assert "flaky se ha detenido (código -9); se reinicia en 0.05 s (intento 1)" in err
    assert "flaky se ha detenido (código 3); se reinicia en 0.1 s (intento 2)" in err
    assert "flaky se ha detenido (código 3); se reinicia en 0.2 s (intento 4)" in err
    assert len(re.findall(r"^flaky arrancado", err, re.M)) == 5
    assert len(re.findall(r"^steady arrancado", err, re.M)) == 1
    stack.stop()  # idempotent
    assert not stack.restart(flaky)  # and nothing starts again after it


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
