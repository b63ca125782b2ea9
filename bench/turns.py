"""``python -m bench.turns``: does Rasa's reply time grow with the length of
one conversation? (issue 11, item 5)

For each tracker store (``memory``: in Rasa's process; ``sql``: Rasa's SQL
tracker store on the local PostgreSQL) and each setting of
``RASA_TURN_CACHE`` (``on``: the project's tracker cache and incremental
state history, bot/tracker_store.py and bot/rasa_server.py; ``off``: Rasa's
own code), it starts the real stack (action server + Rasa, as
bench/assistant.py does), sends ``--conversations`` conversations of
``--turns`` shopper messages each through Rasa's bridge channel, one message
at a time, and prints the p50 of turns 1-10 and of turns 100-120 and their
ratio (target: at most 1.3), side by side.

The shopper's turns cycle through FAQ questions, thanks, and an order-status
flow with a real order number and email of data/store/demo_store.json (the
action server answers it from a seeded SQLite store), never repeating a
message within three turns (a repeat reads as frustration).

Limits: one machine, loopback, one sender at a time; the SQL database
(``turn_bench_trackers`` unless ``--tracker-db``) is dropped and made again
for each run. ``--write`` puts the table into docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import aiohttp

from bench.assistant import converse, machine, seeded_store, write_docs
from bot.processes import Stack, free_port
from bot.settings import Settings

MARK_BEGIN = "<!-- turns-bench:begin -->"
MARK_END = "<!-- turns-bench:end -->"
FIRST = (1, 10)
LATE = (100, 120)
TARGET = 1.3


def shopper_turns(order: Dict[str, Any], turns: int) -> List[str]:
    """``turns`` messages a shopper could send in one long conversation."""
    cycle = [
        "hola",
        "¿el envío es gratis?",
        "gracias",
        f"¿dónde está mi pedido {order['order_id']}?",
        order["email"],
        "¿aceptan bizum?",
        "muchas gracias",
        "¿cuántos días tengo para devolver?",
        "vale, gracias",
        "¿tienen teléfono?",
        "genial, gracias",
        "¿cuánto tarda en llegar?",
        "perfecto, gracias",
        "¿envían a México?",
    ]
    return [cycle[i % len(cycle)] for i in range(turns)]


def bucket(latencies: Sequence[Sequence[float]], turns: Tuple[int, int]) -> List[float]:
    """Every conversation's latencies of turns ``turns`` (1-based, inclusive)."""
    first, last = turns
    return [lat for conversation in latencies for lat in conversation[first - 1:last]]


def p50_ms(values: Sequence[float]) -> float:
    return 1000 * statistics.median(values) if values else float("nan")


async def conversations(settings: Settings, script: List[str], count: int) -> List[List[float]]:
    """``count`` conversations of ``script``, one after the other, each a new sender."""
    url = f"{settings.rasa_url}/webhooks/bridge/webhook"
    found: List[List[float]] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await converse(session, url, f"warm-{uuid.uuid4().hex}", script[:6], [], settings.rasa_bridge_secret)
        for _ in range(count):
            latencies: List[float] = []
            await converse(session, url, f"turns-{uuid.uuid4().hex}", script, latencies, settings.rasa_bridge_secret)
            found.append(latencies)
    return found


def fresh_database(name: str) -> None:
    """Drop and create the tracker database (Rasa makes its table)."""
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        connection.close()


def run(tmp: Path, store: str, cache: str, script: List[str], count: int, tracker_db: str,
        database_url: str, pid_file: Optional[Path] = None) -> Dict[str, Any]:
    """One stack with this store and cache setting; its latencies per turn."""
    env = {"RASA_PORT": os.environ.get("RASA_PORT") or str(free_port()),
           "ACTIONS_PORT": os.environ.get("ACTIONS_PORT") or str(free_port()),
           "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING",
           "RASA_TRACKER_STORE": store, "RASA_TURN_CACHE": cache, "RASA_TRACKER_DB": tracker_db}
    if store == "sql":
        fresh_database(tracker_db)
    settings = Settings.from_env(env)
    stack = Stack(settings, log_dir=str(tmp / f"logs-{store}-{cache}"))
    try:
        stack.start_actions()
        rasa_child = stack.start_rasa()
        stack.wait_ready(timeout=300)
        if pid_file is not None:
            pid_file.write_text(f"{rasa_child.process.pid}\n")
        started = time.perf_counter()
        latencies = asyncio.run(conversations(settings, script, count))
        elapsed = time.perf_counter() - started
    finally:
        stack.stop()
    early, late = p50_ms(bucket(latencies, FIRST)), p50_ms(bucket(latencies, LATE))
    return {"store": store, "cache": cache, "latencies": latencies, "first": early, "late": late,
            "ratio": late / early, "seconds": elapsed}


def table(results: List[Dict[str, Any]], turns: int) -> List[str]:
    rows = ["| tracker store | RASA_TURN_CACHE | p50 turns 1–10 (ms) | p50 turns 100–120 (ms) | ratio | "
            "p50 at turns 1 / 20 / 40 / 60 / 80 / 120 (ms) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        marks = [t for t in (1, 20, 40, 60, 80, 120) if t <= turns]
        points = " / ".join(f"{p50_ms(bucket(r['latencies'], (max(1, t - 1), min(turns, t + 1)))):.0f}"
                            for t in marks)
        ok = "✅" if r["ratio"] <= TARGET else "❌"
        rows.append(f"| {r['store']} | {r['cache']} | {r['first']:.1f} | {r['late']:.1f} | "
                    f"{r['ratio']:.2f}× {ok} | {points} |")
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.turns", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=120)
    parser.add_argument("--conversations", type=int, default=3, help="per store and setting")
    parser.add_argument("--stores", default="memory,sql")
    parser.add_argument("--cache", default="off,on", help="RASA_TURN_CACHE settings to compare")
    parser.add_argument("--tracker-db", default="turn_bench_trackers")
    parser.add_argument("--pid-file", type=Path, help="write each Rasa server's pid here (for py-spy)")
    parser.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-turns-") as tmp_name:
        tmp = Path(tmp_name)
        database_url, order = seeded_store(tmp)
        script = shopper_turns(order, args.turns)
        for store in args.stores.split(","):
            for cache in args.cache.split(","):
                print(f"{store} tracker store, RASA_TURN_CACHE={cache}: {args.conversations} × {args.turns} turns...",
                      flush=True)
                results.append(run(tmp, store, cache, script, args.conversations, args.tracker_db,
                                   database_url, args.pid_file))
                print("\n".join(table(results[-1:], args.turns)[2:]), flush=True)
    lines = [f"## Reply time along one conversation — measured {dt.datetime.now():%Y-%m-%d %H:%M}", "",
             f"`python -m bench.turns`. Machine: {machine()}; load average at the start {load} (the CPU is shared). "
             f"Per store and setting, the real stack (action server, Rasa) and {args.conversations} conversations of "
             f"{args.turns} shopper turns (FAQ questions, thanks, an order-status flow with a demo order number and "
             "email), one message at a time through Rasa's bridge channel; each p50 pools the turns of all "
             f"conversations. Target (issue 11): p50 of turns 100–120 at most {TARGET}× that of turns 1–10.", "",
             *table(results, args.turns), ""]
    section = "\n".join(lines)
    print(section)
    if args.write:
        write_docs(section, MARK_BEGIN, MARK_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
