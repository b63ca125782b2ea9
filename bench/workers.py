"""``python -m bench.workers``: replies/s of one and two Rasa workers, and of
a default ``rasa init`` bot on the same Rasa, side by side in one run
(issue 11).

Cases, each its own server, all started before any is measured:

- ``a``: our Rasa (bot/rasa_server.py, models/assistant.tar.gz, its action
  server), 1 worker, Rasa's SQL tracker store on PostgreSQL and the Redis
  lock store;
- ``b``: the same with ``SANIC_WORKERS=2``;
- ``c``: the same with 1 worker and in-memory stores (``make run``'s
  default), for reference;
- ``d``: the moodbot of ``rasa init --no-prompt`` (it trains its own model;
  the trained project is kept under var/bench/rasa-init/<rasa version>/ so
  later runs skip training) served by ``rasa run`` with its REST channel,
  1 worker, in-memory stores, no action server (it has no custom actions).

Our cases get Spanish shopper conversations (bench/assistant.py's scripts:
FAQ, thanks, an order-status flow with a demo order's number and email)
through the bridge channel; the moodbot gets its own English ones. Each
server is warmed up, then measured with ``--senders`` concurrent senders,
closed loop (each sends its next message when the reply has come), a fixed
seed picking the conversations, each conversation on a new keep-alive
connection (``load_raw``). The measured time is split into
``--passes`` windows per case in alternating order (a b c d, then d c b a,
...), so a change of the machine's load between windows falls on every case
alike. Targets: b/a ≥ 1.5 and b/d ≥ 2.

Limits: one 2-core machine shared with other work, the load generator on
the same cores as the servers, loopback only. The trackers' databases
(``<prefix>_trackers_a`` / ``_b``, ``--prefix`` ``workers`` by default) are
dropped and made again each run; the lock keys start with the prefix. Ports:
``--rasa-port`` and ``--actions-port``, the first of 4 consecutive each. Memory: the resident set (RSS) of each
server's processes summed, and their proportional set (PSS), which counts
pages the forked workers share once.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from bench.assistant import load_figures, load_on, machine, scripts, seeded_store, write_docs
from bench.turns import fresh_database
from bot.processes import Stack, StartupError
from bot.settings import ROOT, Settings

MARK_BEGIN = "<!-- workers-bench:begin -->"
MARK_END = "<!-- workers-bench:end -->"
CACHE = ROOT / "var" / "bench" / "rasa-init"
TARGET_WORKERS = 1.5  # b/a
TARGET_INIT = 2.0  # b/d
RASA_PORTS = range(5605, 5616)
ACTION_PORTS = range(5655, 5666)


class BenchError(RuntimeError):
    """The benchmark could not prepare or run a case."""


def moodbot_scripts() -> List[List[str]]:
    """What a user of ``rasa init``'s moodbot says (its own intents)."""
    return [
        ["hi", "I am sad", "yes", "great", "bye"],
        ["hello", "are you a bot?", "I am feeling very good", "bye"],
        ["hey", "not good", "no", "goodbye"],
    ]


def ratio(numerator: Dict[str, float], denominator: Dict[str, float]) -> float:
    """replies/s of one case over another's (NaN when the other has none)."""
    below = denominator.get("per_s", 0.0)
    return numerator.get("per_s", float("nan")) / below if below else float("nan")


def verdict(value: float, target: float) -> str:
    """"met", or by how much it is short (as a share of the target)."""
    if value != value:  # NaN
        return "not measured"
    if value >= target:
        return "met"
    return f"not met: {value:.2f}× against {target:.1f}× ({1 - value / target:.0%} short)"


def pass_order(names: Sequence[str], passes: int) -> List[List[str]]:
    """The cases' order in each pass: forwards, backwards, forwards..."""
    return [list(names) if p % 2 == 0 else list(reversed(names)) for p in range(passes)]


# -- processes: memory and CPU ----------------------------------------------------


def process_tree(pid: int) -> List[int]:
    """``pid`` and its descendants (Sanic's workers are children of its main process)."""
    parents: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def _status_kb(path: Path, key: str) -> int:
    try:
        match = re.search(rf"^{key}:\s+(\d+) kB", path.read_text(), flags=re.M)
    except OSError:
        return 0
    return int(match.group(1)) if match else 0


def memory_mb(pid: int) -> Tuple[float, float]:
    """(RSS, PSS) in MB of ``pid`` and its descendants, summed."""
    pids = process_tree(pid)
    rss = sum(_status_kb(Path(f"/proc/{p}/status"), "VmRSS") for p in pids)
    pss = sum(_status_kb(Path(f"/proc/{p}/smaps_rollup"), "Pss") for p in pids)
    return rss / 1024, pss / 1024


def cpu_seconds(pid: int) -> Dict[int, float]:
    """CPU time (user + system) used so far by ``pid`` and each descendant."""
    return cpu_of(process_tree(pid))


def cpu_of(pids: Sequence[int]) -> Dict[int, float]:
    """CPU time (user + system) used so far by each of ``pids`` (gone ones left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: Dict[int, float] = {}
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[p] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def database_backends(database: str) -> List[int]:
    """The PostgreSQL backends connected to ``database`` (its tracker store's)."""
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=5)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
            return [int(pid) for (pid,) in cursor.fetchall()]
    finally:
        connection.close()


def redis_server() -> List[int]:
    """The local redis-server's pid (shared with other work: its CPU is an upper bound)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "redis-server":
                    return [int(entry.name)]
            except OSError:
                continue
    return []


def role_cpu(case: "Case") -> Dict[str, Dict[int, float]]:
    """CPU seconds so far of each process serving ``case``, by role: the Rasa
    server (main process and workers), the action server, the tracker
    database's PostgreSQL backends, Redis, and this process (the load
    generator: nothing else runs in it during a window)."""
    times = os.times()
    roles = {"rasa": cpu_seconds(case.pid), "load generator": {os.getpid(): times.user + times.system}}
    if case.actions_pid:
        roles["actions"] = cpu_seconds(case.actions_pid)
    if case.tracker_db:
        roles["postgres"] = cpu_of(database_backends(case.tracker_db))
        roles["redis (whole server)"] = cpu_of(redis_server())
    return roles


# -- the rasa init bot ---------------------------------------------------------------


def rasa_version() -> str:
    import rasa

    return str(rasa.__version__)


def rasa_init_project(cache: Path = CACHE) -> Path:
    """A trained ``rasa init --no-prompt`` project for this Rasa version,
    made once (it trains, a few minutes on 2 cores) and kept in ``cache``."""
    project = cache / rasa_version()
    if any((project / "models").glob("*.tar.gz")):
        return project
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="init-", dir=cache))
    print(f"Training the rasa init bot into {project.relative_to(ROOT)} (once per Rasa version)...", flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore", RASA_TELEMETRY_ENABLED="false")
    try:
        result = subprocess.run([sys.executable, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(scratch)],
                                cwd=scratch, env=env, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise BenchError("rasa init did not finish in 30 minutes") from exc
    if result.returncode != 0 or not any((scratch / "models").glob("*.tar.gz")):
        shutil.rmtree(scratch, ignore_errors=True)
        raise BenchError(f"rasa init failed: {(result.stdout + result.stderr)[-2000:]}")
    shutil.rmtree(project, ignore_errors=True)
    scratch.rename(project)
    return project


# -- the cases -------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    label: str
    url: str
    secret: Optional[str]
    conversations: List[List[str]]
    stack: Stack
    pid: int = 0
    latencies: List[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: Dict[int, float] = field(default_factory=dict)
    windows: List[float] = field(default_factory=list)  # replies/s of each window
    actions_pid: int = 0
    tracker_db: Optional[str] = None
    roles: Dict[str, float] = field(default_factory=dict)  # CPU seconds per role, all windows


def our_case(name: str, label: str, port: int, actions_port: int, database_url: str, order: Dict[str, Any],
             log_dir: Path, workers: int, store: str, prefix: str = "workers") -> Case:
    env = {"RASA_PORT": str(port), "ACTIONS_PORT": str(actions_port), "DATABASE_URL": database_url,
           "LOG_LEVEL": "WARNING", "SANIC_WORKERS": str(workers), "RASA_TELEMETRY_ENABLED": "false"}
    if store == "sql":
        tracker_db = f"{prefix}_trackers_{name}"
        fresh_database(tracker_db)
        env.update(RASA_TRACKER_STORE="sql", RASA_TRACKER_DB=tracker_db,
                   RASA_LOCK_STORE="redis", RASA_LOCK_KEY_PREFIX=f"{prefix}-{name}:")
    settings = Settings.from_env(env)
    stack = Stack(settings, log_dir=str(log_dir / name))
    actions = stack.start_actions()
    child = stack.start_rasa()
    return Case(name, label, f"{settings.rasa_url}/webhooks/bridge/webhook", settings.rasa_bridge_secret,
                scripts(order), stack, child.process.pid, actions_pid=actions.process.pid,
                tracker_db=env.get("RASA_TRACKER_DB"))


def init_case(name: str, label: str, port: int, project: Path, log_dir: Path) -> Case:
    settings = Settings.from_env({"RASA_PORT": str(port), "LOG_LEVEL": "WARNING"})
    stack = Stack(settings, log_dir=str(log_dir / name))
    child = stack.start_program(
        "rasa-init", sys.executable,
        ["-m", "rasa", "run", "--interface", "127.0.0.1", "--port", str(port), "--model", str(project / "models"),
         "--credentials", str(project / "credentials.yml"), "--endpoints", str(project / "endpoints.yml")],
        f"http://127.0.0.1:{port}/")
    return Case(name, label, f"http://127.0.0.1:{port}/webhooks/rest/webhook", None, moodbot_scripts(),
                stack, child.process.pid)


def bot_texts(body: Any) -> List[str]:
    """The bot's texts in one reply: the REST channel answers a list of
    messages, the bridge channel ``{"messages": [...]}``."""
    messages = body.get("messages") if isinstance(body, dict) else body
    return [str(m.get("text") or m.get("image") or "") for m in messages or [] if isinstance(m, dict)]


async def check_answers(case: Case) -> List[List[str]]:
    """Every conversation of the case once, with the bot's texts per reply;
    BenchError if a reply has none (the server answers, but not as a bot)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {case.secret}"} if case.secret is not None else {}
    found: List[List[str]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for number, conversation in enumerate(case.conversations):
            for text in conversation:
                async with session.post(case.url, json={"sender": f"check-{case.name}-{number}", "message": text},
                                        headers=headers) as response:
                    texts = bot_texts(await response.json(content_type=None))
                if not texts:
                    raise BenchError(f"case {case.name}: no bot message for {text!r}")
                found.append(texts)
    return found


# -- the load generator ------------------------------------------------------------------

REQUEST_TIMEOUT_S = 120.0


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> bytes:
    """One HTTP/1.1 POST on an open connection; the response body (BenchError unless 200)."""
    writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    status = await reader.readline()
    length: Optional[int] = None
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise BenchError(f"an answer without Content-Length: {status!r}")
    answer = await reader.readexactly(length)
    if status.split()[1:2] != [b"200"]:
        raise BenchError(f"HTTP {status.decode(errors='replace').strip()}: {answer[:200]!r}")
    return answer


async def converse_raw(url: str, secret: Optional[str], sender: str, script: Sequence[str],
                       latencies: List[float], until: float) -> None:
    """One conversation on a connection of its own (kept alive for its
    messages, closed after), each message after the previous reply, no
    message after ``until`` (``time.perf_counter()``)."""
    import json
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            + (f"Authorization: Bearer {secret}\r\n" if secret is not None else "")).encode()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT_S)
    try:
        for text in script:
            if time.perf_counter() >= until:
                return
            body = json.dumps({"sender": sender, "message": text}).encode()
            start = time.perf_counter()
            await asyncio.wait_for(_post(reader, writer, head, body), REQUEST_TIMEOUT_S)
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def load_raw(url: str, secret: Optional[str], conversations: Sequence[List[str]], senders: int,
                   seconds: float, seed: int, tag: str) -> Tuple[List[float], float]:
    """Latencies of every reply and the time taken: ``senders`` senders, each
    running conversations back to back (a new sender id each, picked by
    ``random.Random(seed + i)``) for ``seconds``, the time running until
    the last reply.

    Why not bench/assistant.py's aiohttp client: its connection pool kept
    the same 20 connections for the whole run, so each stayed on the Sanic
    worker that had accepted it (case b's two workers used 22 and 9 CPU-s
    in one run); here each conversation connects anew, as shoppers do, and
    the kernel hands each connection to a worker waiting for one. It is also
    lighter (raw HTTP/1.1 on asyncio streams), the same for every case.
    """
    import random
    import time

    latencies: List[float] = []
    start = time.perf_counter()
    until = start + seconds

    async def sender(index: int) -> None:
        rng = random.Random(seed + index)
        number = 0
        while time.perf_counter() < until:
            await converse_raw(url, secret, f"{tag}-{seed}-{index}-{number}", rng.choice(conversations),
                               latencies, until)
            number += 1

    await asyncio.gather(*(sender(i) for i in range(senders)))
    return latencies, time.perf_counter() - start


def measure(case: Case, senders: int, seconds: float, seed: int) -> None:
    before = role_cpu(case)
    latencies, elapsed = asyncio.run(load_raw(case.url, case.secret, case.conversations, senders,
                                              seconds=seconds, seed=seed, tag=f"workers-{case.name}"))
    after = role_cpu(case)
    case.latencies += latencies
    case.seconds += elapsed
    case.windows.append(len(latencies) / elapsed if elapsed > 0 else float("nan"))
    for pid, used in after["rasa"].items():
        case.cpu[pid] = case.cpu.get(pid, 0.0) + used - before["rasa"].get(pid, 0.0)
    for role, now in after.items():
        then = before.get(role, {})
        case.roles[role] = case.roles.get(role, 0.0) + sum(used - then.get(pid, 0.0) for pid, used in now.items())


def run(tmp: Path, senders: int, seconds: float, passes: int, seed: int,
        names: Sequence[str], rasa_port: int = RASA_PORTS[0], actions_port: int = ACTION_PORTS[0],
        prefix: str = "workers") -> Tuple[Dict[str, Dict[str, Any]], str]:
    """Start every case, warm each up, measure them in alternating passes;
    the figures per case and the load average before the measurement.
    Cases a-d use ``rasa_port`` + 0..3 and ``actions_port`` + 0..2."""
    database_url, order = seeded_store(tmp)
    project = rasa_init_project() if "d" in names else None
    builders = {
        "a": lambda: our_case("a", "our Rasa, 1 worker, SQL trackers (PostgreSQL) + Redis locks", rasa_port + 0,
                              actions_port + 0, database_url, order, tmp / "logs", 1, "sql", prefix),
        "b": lambda: our_case("b", "our Rasa, 2 workers, SQL trackers (PostgreSQL) + Redis locks", rasa_port + 1,
                              actions_port + 1, database_url, order, tmp / "logs", 2, "sql", prefix),
        "c": lambda: our_case("c", "our Rasa, 1 worker, in-memory stores (`make run`)", rasa_port + 2,
                              actions_port + 2, database_url, order, tmp / "logs", 1, "memory"),
        "d": lambda: init_case("d", "`rasa init` moodbot, 1 worker, in-memory stores", rasa_port + 3,
                               project or Path(), tmp / "logs"),
    }
    cases: List[Case] = []
    try:
        for name in names:
            cases.append(builders[name]())
        for case in cases:
            print(f"Waiting for {case.name} ({case.label})...", flush=True)
            try:
                case.stack.wait_ready(timeout=600)
            except StartupError as exc:
                raise BenchError(f"case {case.name} did not start; logs in {tmp / 'logs' / case.name}") from exc
        for case in cases:
            print(f"{case.name} answers, e.g.: {asyncio.run(check_answers(case))[:3]}", flush=True)
        for case in cases:  # warm-up: every conversation, by every sender, twice
            asyncio.run(load_on(case.url, case.secret, case.conversations, senders, rounds=2, tag=f"warm-{case.name}"))
        load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
        for number, order_of_pass in enumerate(pass_order([c.name for c in cases], passes)):
            for name in order_of_pass:
                case = next(c for c in cases if c.name == name)
                measure(case, senders, seconds / passes, seed + 1000 * number)
                print(f"pass {number + 1}, {name}: {len(case.latencies)} replies so far", flush=True)
        results: Dict[str, Dict[str, Any]] = {}
        for case in cases:
            figures: Dict[str, Any] = dict(load_figures(case.latencies, case.seconds, senders))
            figures["rss_mb"], figures["pss_mb"] = memory_mb(case.pid)
            figures["processes"] = len(process_tree(case.pid))
            figures["cpu_s"] = sorted((round(v, 1) for v in case.cpu.values() if v > 0.05), reverse=True)
            figures["label"] = case.label
            figures["windows"] = list(case.windows)
            replies = max(1, len(case.latencies))
            figures["cpu_ms_per_reply"] = {role: 1000 * used / replies for role, used in case.roles.items()}
            results[case.name] = figures
    finally:
        for case in cases:
            case.stack.stop()
    return results, load_avg


def section(results: Dict[str, Dict[str, Any]], load_before: str, load_start: str, args: argparse.Namespace) -> str:
    rows = ["| case | replies | p50 (ms) | p99 (ms) | replies/s | replies/s per window | server CPU in the window (s, per process) | "
            "RSS (MB, processes summed) | PSS (MB) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        cpu = " + ".join(f"{v:.0f}" for v in r["cpu_s"]) or "–"
        rows.append(f"| {name}: {r['label']} | {r['replies']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                    f"**{r['per_s']:.1f}** | {' / '.join(f'{w:.0f}' for w in r['windows'])} | {cpu} of {r['seconds']:.0f} s | {r['rss_mb']:.0f} ({r['processes']}) | "
                    f"{r['pss_mb']:.0f} |")
    roles = list(dict.fromkeys(role for r in results.values() for role in r.get("cpu_ms_per_reply", {})))
    cpu_rows = ["| case | " + " | ".join(f"{role} (ms)" for role in roles) + " | total (ms) | replies/s × total (cores) |",
                "| --- |" + " --- |" * (len(roles) + 2)]
    for name, r in results.items():
        per = r.get("cpu_ms_per_reply", {})
        total = sum(v for role, v in per.items() if role != "redis (whole server)")
        cpu_rows.append(f"| {name} | " + " | ".join(f"{per[role]:.1f}" if role in per else "–" for role in roles)
                        + f" | {total:.1f} | {r['per_s'] * total / 1000:.2f} |")
    ratios = []
    for top, bottom, target in (("b", "a", TARGET_WORKERS), ("b", "d", TARGET_INIT), ("a", "d", None),
                                ("c", "d", None), ("c", "a", None)):
        if top in results and bottom in results:
            value = ratio(results[top], results[bottom])
            ratios.append(f"- {top}/{bottom}: **{value:.2f}×**"
                          + (f" (target ≥ {target:.1f}×: {verdict(value, target)})" if target else ""))
    return "\n".join([
        f"## Rasa workers — measured {dt.datetime.now():%Y-%m-%d %H:%M}", "",
        f"`python -m bench.workers`. Machine: {machine()}; load average (1, 5, 15 min) before starting the servers "
        f"{load_before}, before the measurement {load_start} (the CPU is shared; the load generator runs on the same "
        "2 cores). Every server was started first, warmed up (each sender through every conversation twice), then "
        f"measured with {args.senders} concurrent senders, closed loop, each conversation on a new keep-alive "
        f"connection (raw HTTP/1.1), for {args.seconds:.0f} s per case in "
        f"{args.passes} windows of alternating order (a b c d, d c b a, ...); seed {args.seed}. Our Rasa gets "
        "Spanish shopper conversations (FAQ, thanks, an order-status flow with a demo order's number and email, "
        "through the action server) on the bridge channel; the `rasa init` moodbot its own English ones (\"hi\", "
        "\"I am sad\", \"yes\", \"great\", \"bye\"...) on the REST channel. A reply is one HTTP turn, whatever the "
        "number of bot messages in it.", "",
        *rows, "",
        "CPU per reply by process (CPU seconds in the windows over replies, /proc: load-insensitive; the total "
        "leaves out Redis, whose figure is the whole shared server's):", "",
        *cpu_rows, "",
        *ratios, "",
    ])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=40.0, help="measured time per case (all passes)")
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cases", default="a,b,c,d")
    parser.add_argument("--rasa-port", type=int, default=RASA_PORTS[0], help="case a's; b, c, d the next ones")
    parser.add_argument("--actions-port", type=int, default=ACTION_PORTS[0], help="case a's; b, c the next ones")
    parser.add_argument("--prefix", default="workers", help="tracker databases and lock keys start with it")
    parser.add_argument("--prepare", action="store_true", help="only train (or find) the rasa init bot")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.prepare:
        print(rasa_init_project())
        return 0
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp_name:
        results, load_start = run(Path(tmp_name), args.senders, args.seconds, args.passes, args.seed,
                                  [n.strip() for n in args.cases.split(",") if n.strip()], args.rasa_port, args.actions_port,
                                  args.prefix)
    text = section(results, load_before, load_start, args)
    print(text)
    if not args.no_write:
        write_docs(text, MARK_BEGIN, MARK_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
