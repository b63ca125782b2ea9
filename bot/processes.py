"""Starting, supervising and stopping the stack's processes (action server,
Rasa server, handoff bridge).

Used by ``make run``/``make shell`` and by the end-to-end tests, so the tests
start the stack exactly as a user does.

- Each child runs in a session (and process group) of its own, so a Ctrl-C
  or a SIGTERM sent to the terminal's or the supervisor's process group
  reaches only the supervisor, which then stops the children itself, last
  started first. On Linux each child also gets PR_SET_PDEATHSIG=SIGTERM: if
  the supervisor dies, even by SIGKILL, the kernel sends the child SIGTERM.
  (The signal follows the thread that spawned the child: spawn from the main
  thread, as everything here does. ``preexec_fn`` is used for it, which is
  safe because the supervisor runs no other threads.)
- ``Stack.stop()`` sends SIGTERM to every child's process group, SIGKILL
  after a grace period, and reaps them. It is idempotent, holds off SIGINT,
  SIGTERM and SIGHUP until it has finished, and after it no child is
  restarted.
- ``StopRequest`` is what the signal handlers of ``python -m bot`` do: they
  record the request and wake the supervisor up, nothing else (no exception
  is thrown into whatever code happens to be running).
- ``Supervisor`` restarts a child that exits, with exponential backoff
  (``RestartPolicy``), waits for its health URL without holding up the
  others, and gives up (stops everything) only when a child keeps dying
  right after it starts.
"""
from __future__ import annotations

import collections
import ctypes
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence

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
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return False


def http_answers(url: str, timeout: float = 2.0) -> bool:
    """The server answers HTTP at all (any status: the bridge's /health says
    503 while Rasa is down, and is serving customers all the same)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        return False


def say(line: str) -> None:
    """One line of the supervisor's log (stderr, where the children's logs go too)."""
    print(line, file=sys.stderr, flush=True)


# -- dying with the supervisor -------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _prctl: Optional[Callable[..., int]] = (
        ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None)
except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
    _prctl = None


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process
    dies (Linux; elsewhere a no-op). If this process died between fork and
    prctl, the child exits at once instead of running orphaned."""
    parent = os.getpid()
    prctl = _prctl

    def preexec() -> None:
        if prctl is None:
            return
        # The supervisor's handler would swallow the death signal until exec.
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        except ValueError:  # pragma: no cover - not Python's main thread
            pass
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _killpg(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequest:
    """Stop requests from signals, recorded and nothing else.

    ``install()`` (main thread only) handles SIGINT, SIGTERM and SIGHUP
    (SIGHUP only when not ignored, so ``nohup`` keeps working) by recording
    the first signal; SIGCHLD only wakes ``wait()`` up, so a child's exit is
    seen at once. ``wait(timeout)`` sleeps until a signal arrives or the
    timeout passes.
    """

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.count = 0
        self._reader, self._writer = os.pipe()  # not inherited by children (PEP 446)
        os.set_blocking(self._reader, False)
        os.set_blocking(self._writer, False)

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            if signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN:
                continue
            signal.signal(signum, self._record)
        signal.signal(signal.SIGCHLD, self._wake)
        signal.set_wakeup_fd(self._writer, warn_on_full_buffer=False)

    def _record(self, signum: int, frame: Optional[FrameType]) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum

    def _wake(self, signum: int, frame: Optional[FrameType]) -> None:
        pass

    def request(self) -> None:
        """Ask for a stop from code (as a signal would)."""
        if self.signum is None:
            self.signum = 0
        try:
            os.write(self._writer, b"\0")
        except BlockingIOError:
            pass

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def wait(self, timeout: float) -> None:
        if not self.requested and timeout > 0:
            select.select([self._reader], [], [], timeout)
        try:
            while os.read(self._reader, 512):
                pass
        except BlockingIOError:
            pass


class _SignalsHeld:
    """Holds off the stop signals (they stay pending) for a block of code."""

    def __enter__(self) -> None:
        self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)


# -- the children ----------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    health_url: str
    # What restarting needs: the same command and environment as the first time.
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    program: Optional[str] = None  # None: the stack's Python runs ``args``
    started_at: float = 0.0
    # Supervision state (Supervisor): when it first answered since its last
    # start, quick exits in a row, when it is due to start again, exit times.
    ready_at: Optional[float] = None
    failures: int = 0
    restart_at: Optional[float] = None
    exits: Deque[float] = field(default_factory=collections.deque)

    @property
    def running(self) -> bool:
        """Started and not yet reaped (it may have just exited)."""
        return self.process.returncode is None


@dataclass
class Stack:
    settings: Settings
    python: str = sys.executable
    log_dir: Optional[str] = None
    children: List[Child] = field(default_factory=list)
    stopping: bool = False

    def _popen(self, name: str, args: Sequence[str], env: Mapping[str, str],
               program: Optional[str] = None) -> subprocess.Popen:
        stdout = None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            stdout = open(os.path.join(self.log_dir, f"{name}.log"), "ab")  # noqa: SIM115
        try:
            process = subprocess.Popen(
                [program or self.python, *args],
                cwd=str(ROOT),
                env=dict(env),
                stdout=stdout,
                stderr=subprocess.STDOUT if stdout else None,
                start_new_session=True,  # its own session and process group
                preexec_fn=die_with_parent(),
            )
        finally:
            if stdout is not None:
                stdout.close()  # the child has its own copy
        say(f"{name} arrancado (pid {process.pid})")
        return process

    def _spawn(self, name: str, args: Sequence[str], health_url: str,
               env: Optional[Mapping[str, str]] = None, program: Optional[str] = None) -> Child:
        if self.stopping:
            raise StartupError(f"not starting {name}: the stack is stopping")
        env = dict(self.settings.child_env() if env is None else env)
        process = self._popen(name, args, env, program)
        child = Child(name, process, health_url, args=list(args), env=env, program=program,
                      started_at=time.monotonic())
        self.children.append(child)
        return child

    def restart(self, child: Child) -> bool:
        """Start an exited child again with the same command and environment;
        False (and nothing started) once the stack is stopping."""
        if self.stopping or child.running:
            return False
        child.process = self._popen(child.name, child.args, child.env, child.program)
        child.started_at = time.monotonic()
        child.ready_at = None
        child.restart_at = None
        return True

    def start_actions(self) -> Child:
        return self._spawn(
            "actions",
            ["-m", "bot.action_server"],
            f"{self.settings.actions_url}/health",
        )

    def start_rasa(self) -> Child:
        if not self.settings.model_path.exists():
            raise StartupError(f"no trained model at {self.settings.model_path}: run `make train`")
        return self._spawn("rasa", ["-m", "bot.rasa_server"], f"{self.settings.rasa_url}/")

    def start_bridge(self, name: str = "bridge", port: Optional[int] = None,
                     env: Optional[Mapping[str, str]] = None) -> Child:
        """The handoff bridge: web widget, agent console, Telegram. ``port``
        (and ``env``): one of several behind a load balancer (bot/scaled.py)."""
        if port is None:
            return self._spawn(name, ["-m", "handoff"], f"{self.settings.handoff_url}/health")
        child_env = {**self.settings.child_env(), **(env or {}), "HANDOFF_HOST": "127.0.0.1", "HANDOFF_PORT": str(port)}
        return self._spawn(name, ["-m", "handoff"], f"http://127.0.0.1:{port}/health/live", child_env)

    def start_program(self, name: str, program: str, args: Sequence[str], health_url: str) -> Child:
        """A program that is not ours (the load balancer), supervised like the rest."""
        return self._spawn(name, args, health_url, program=program)

    def wait_ready(self, timeout: float = 180.0, stop: Optional[StopRequest] = None) -> bool:
        """Poll each child's health URL until it answers; fail fast if one dies.
        False if ``stop`` was requested meanwhile."""
        deadline = time.monotonic() + timeout
        pending = list(self.children)
        while pending:
            for child in list(pending):
                if stop is not None and stop.requested:
                    return False
                code = child.process.poll()
                if code is not None:
                    raise StartupError(f"{child.name} exited with code {code} while starting")
                if http_ok(child.health_url):
                    pending.remove(child)
                    child.ready_at = time.monotonic()
            if pending and time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise StartupError(f"{names} did not answer within {timeout:.0f} s")
            if pending:
                # polling a child's start-up, not synchronising a test
                if stop is not None:
                    stop.wait(0.5)
                else:
                    time.sleep(0.5)
        return not (stop is not None and stop.requested)

    def reap(self, child: Child) -> None:
        """After a child's exit: kill what is left of its process group
        (right after reaping, so the group id cannot be anyone else's)."""
        _killpg(child.process.pid, signal.SIGKILL)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to every child's process group, last started first; SIGKILL
        to those still running after ``grace`` s; reap them all. Idempotent;
        stop signals wait until it has finished; nothing restarts afterwards."""
        self.stopping = True
        with _SignalsHeld():
            live = [c for c in reversed(self.children) if c.running]
            for child in live:
                _killpg(child.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            for child in live:
                try:
                    child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            for child in live:
                if child.process.poll() is None:
                    say(f"{child.name} (pid {child.process.pid}) sigue en marcha tras {grace:g} s; se mata (SIGKILL)")
                    _killpg(child.process.pid, signal.SIGKILL)
            for child in live:
                try:
                    child.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    say(f"{child.name} (pid {child.process.pid}) no termina ni con SIGKILL")
                    continue
                self.reap(child)
            self.children.clear()

    def first_exited(self) -> Optional[Child]:
        return next((c for c in self.children if c.process.poll() is not None), None)


# -- supervision -------------------------------------------------------------------


@dataclass(frozen=True)
class RestartPolicy:
    """How ``Supervisor`` restarts children.

    A child that exits is started again after ``first_delay`` s, doubled at
    each exit in a row up to ``max_delay``; the count starts over once a
    child has answered its health URL for ``stable_after`` s. A restarted
    child that has not answered after ``start_timeout`` s is killed (and so
    restarted). If a child exits ``give_up_exits`` times within
    ``give_up_window`` s, it is dying right after each start: the supervisor
    gives up and everything stops.
    """

    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 30.0
    start_timeout: float = 180.0
    give_up_exits: int = 5
    give_up_window: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


class GaveUp(RuntimeError):
    """A child kept dying right after starting."""


@dataclass
class Supervisor:
    stack: Stack
    stop: StopRequest
    policy: RestartPolicy = RestartPolicy()

    def run(self) -> None:
        """Supervise until a stop is requested; GaveUp if a child keeps dying.
        Call after ``stack.wait_ready()``; stopping is the caller's job."""
        now = time.monotonic()
        for child in self.stack.children:
            if child.ready_at is None:
                child.ready_at = now
        while not self.stop.requested:
            for child in list(self.stack.children):
                if self.stop.requested:
                    return
                self._check(child)
            self.stop.wait(self._next_wake())

    def _next_wake(self) -> float:
        now = time.monotonic()
        wake = 1.0
        for child in self.stack.children:
            if child.restart_at is not None:
                wake = min(wake, child.restart_at - now)
            elif child.ready_at is None:
                wake = min(wake, 0.5)
        return max(0.0, wake)

    def _check(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                try:
                    self.stack.restart(child)
                except OSError as exc:
                    self._exited(child, f"no se pudo arrancar: {exc}")
            return
        code = child.process.poll()
        if code is not None:
            self.stack.reap(child)
            self._exited(child, f"código {code}")
            return
        if child.ready_at is None:
            if http_answers(child.health_url, timeout=1.0):
                child.ready_at = time.monotonic()
                say(f"{child.name} vuelve a responder (pid {child.process.pid})")
            elif now - child.started_at > self.policy.start_timeout:
                say(f"{child.name} (pid {child.process.pid}) no ha respondido en "
                    f"{self.policy.start_timeout:g} s; se mata para reiniciarlo")
                _killpg(child.process.pid, signal.SIGKILL)

    def _exited(self, child: Child, why: str) -> None:
        now = time.monotonic()
        policy = self.policy
        stable = child.ready_at is not None and now - child.ready_at >= policy.stable_after
        child.failures = 1 if stable else child.failures + 1
        child.exits.append(now)
        while child.exits and now - child.exits[0] > policy.give_up_window:
            child.exits.popleft()
        if len(child.exits) >= policy.give_up_exits:
            message = (f"{child.name} se ha detenido ({why}) {len(child.exits)} veces en menos de "
                       f"{policy.give_up_window:g} s; se abandona y se detiene todo")
            say(message)
            raise GaveUp(message)
        delay = policy.delay(child.failures)
        child.ready_at = None
        child.restart_at = now + delay
        say(f"{child.name} se ha detenido ({why}); se reinicia en {delay:g} s (intento {child.failures})")


def serve(stack: Stack, stop: StopRequest, start: Callable[[], bool], ready_text: Callable[[], str]) -> int:
    """Start a stack's children (``start``; False: stop was asked for while
    it prepared, start nothing more), wait until every one answers, print
    ``ready_text()`` and supervise until a stop; every stack (``make run``,
    ``make run-scaled``) fails, stops and says so the same way."""
    try:
        if stop.requested or not start():
            return 0
        if stack.wait_ready(stop=stop):
            print(ready_text(), flush=True)
            Supervisor(stack, stop).run()
        print("\nDeteniendo...", flush=True)
        return 0
    except StartupError as exc:
        print(f"Error al arrancar: {exc}", file=sys.stderr, flush=True)
        return 1
    except GaveUp:
        return 1
    finally:
        stack.stop()
        print("Detenido.", file=sys.stderr, flush=True)


def rasa_message(settings: Settings, sender: str, text: str, timeout: float = 30.0,
                 message_id: Optional[str] = None, retry: bool = False) -> list:
    """One message through Rasa's bridge channel (with the stack's secret), as
    the bridge sends it; the bot's replies."""
    body: Dict[str, Any] = {"sender": sender, "message": text}
    if message_id is not None:
        body["message_id"] = message_id
    if retry:
        body["retry"] = True
    request = urllib.request.Request(
        f"{settings.rasa_url}/webhooks/bridge/webhook",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {settings.rasa_bridge_secret}"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))["messages"]
