"""The reports' benchmark (``python -m bench.bridge --reports-only``, or
``--reports`` with the rest): seed 100,000 conversations over 90 days
straight into the bridge's tables (bulk inserts, a seeded demo store for the
verified orders), then time ``/api/reports/summary``'s work (read + compute,
the p50 of a few runs after one warm-up) and stream the whole CSV once
(time, and the peak of Python's allocations while streaming, tracemalloc),
on SQLite and on PostgreSQL.

The seeded mix: 70 % web, 30 % telegram; 40 % of conversations linked to one
of 30,000 customers; 30 % handed off (5 % of those twice: reopened); of the
episodes 85 % claimed, 10 % of claims transferred, 90 % of claimed closed
(80 % resolved), the rest withdrawn or abandoned; 40 % of closes rated, 30 %
of ratings with an NPS answer; 10 % of handed-off conversations labelled;
20 % of handoffs name a verified demo order; two messages per conversation.

Limits: the time is the report's own work in this process (no HTTP, no
login: the scrypt check costs ~60 ms on top, once per request); the
PostgreSQL server is the local test one (TEST_POSTGRES_URL).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import secrets
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from core.policy import load_policy
from core.store import create_store
from core.store.seed import load_demo_data, seed_store
from handoff import reports
from handoff.report_cache import DayCache
from handoff.storage import (
    Storage,
    agents_table,
    assignments_table,
    conversations_table,
    csat_table,
    episodes_table,
    labels_table,
    messages_table,
    nps_table,
)

UTC = dt.timezone.utc
CONVERSATIONS = 100_000
DAYS = 90
RUNS = 5
CHUNK = 5000


def seed(url: str, conversations: int = CONVERSATIONS, days: int = DAYS, now: Optional[dt.datetime] = None,
         rng: Optional[random.Random] = None) -> Dict[str, int]:
    """Bulk rows into a migrated, store-seeded database; counts of what was made."""
    rng = rng or random.Random(10)
    now = now or dt.datetime.now(UTC)
    order_ids = [o["order_id"] for o in load_demo_data()["orders"]]
    engine = sa.create_engine(url)
    agents = [f"a_bench{i:05d}" for i in range(12)]
    reasons = ["customer_request", "complaint", "order_overdue", "fallback", "payment_problem", "frustration"]
    made = {"conversations": 0, "episodes": 0, "assignments": 0, "csat": 0, "nps": 0, "labels": 0, "messages": 0}
    start = now - dt.timedelta(days=days)
    span = (now - start).total_seconds() - 3600
    with engine.begin() as conn:
        conn.execute(sa.insert(agents_table), [
            {"id": a, "name": f"Agente {i}", "token_salt": b"0" * 16, "token_hash": b"0" * 32, "created_at": start,
             "role": "agent"} for i, a in enumerate(agents)])
    buffers: Dict[str, List[Dict[str, Any]]] = {k: [] for k in ("c", "m", "e", "a", "s", "n", "l")}
    episode_id = 0
    tables = {"c": conversations_table, "m": messages_table, "e": episodes_table, "a": assignments_table,
              "s": csat_table, "n": nps_table, "l": labels_table}

    def flush(conn: Any, force: bool = False) -> None:
        for key in ("c", "m", "e", "a", "s", "n", "l"):  # parents first
            rows = buffers[key]
            if rows and (force or len(buffers["c"]) >= CHUNK):
                keys = set().union(*rows)  # executemany: the same keys in every row
                conn.execute(sa.insert(tables[key]), [{k: r.get(k) for k in keys} for r in rows])
                rows.clear()

    with engine.begin() as conn:
        for i in range(conversations):
            cid = f"c_bench{i:08d}"
            at = start + dt.timedelta(seconds=rng.random() * span)
            channel = "web" if rng.random() < 0.7 else "telegram"
            customer = f"cust{rng.randrange(30000):05d}" if rng.random() < 0.4 else None
            handed = rng.random() < 0.3
            context = None
            reason = None
            first_handoff = None
            if handed:
                reason = rng.choice(reasons)
                verified = {"id": 1, "name": "Cliente", "verified_order_id": rng.choice(order_ids)} \
                    if rng.random() < 0.2 else None
                context = json.dumps({"reason": reason, "customer": verified, "intents": [], "entities": {}})
            row = {"id": cid, "session_id": secrets.token_hex(12), "channel": channel, "state": "bot",
                   "offline": False, "created_at": at, "updated_at": at, "first_customer_at": at,
                   "customer_id": customer, "context": context, "reason": reason}
            buffers["m"].append({"conversation_id": cid, "sender": "customer", "text": "hola", "created_at": at})
            buffers["m"].append({"conversation_id": cid, "sender": "bot", "text": "¡Hola!", "created_at": at})
            made["messages"] += 2
            if handed:
                q = at + dt.timedelta(seconds=rng.randint(20, 600))
                first_handoff = q
                for _ in range(2 if rng.random() < 0.05 else 1):
                    episode_id += 1
                    made["episodes"] += 1
                    ep: Dict[str, Any] = {"id": episode_id, "conversation_id": cid, "reason": reason,
                                          "offline": False, "queued_at": q}
                    if rng.random() < 0.85:
                        claim = q + dt.timedelta(seconds=rng.expovariate(1 / 600))
                        agent = rng.choice(agents)
                        reply = claim + dt.timedelta(seconds=rng.randint(5, 300))
                        close = reply + dt.timedelta(seconds=rng.expovariate(1 / 900))
                        closer = agent
                        if rng.random() < 0.1:
                            other = rng.choice([a for a in agents if a != agent])
                            moved = claim + (reply - claim) / 2
                            buffers["a"].append({"episode_id": episode_id, "agent_id": agent, "started_at": claim,
                                                 "ended_at": moved, "started_by": "claim", "ended_by": "transfer"})
                            buffers["a"].append({"episode_id": episode_id, "agent_id": other, "started_at": moved,
                                                 "ended_at": close, "started_by": "transfer", "ended_by": "close"})
                            closer = other
                            made["assignments"] += 2
                        else:
                            buffers["a"].append({"episode_id": episode_id, "agent_id": agent, "started_at": claim,
                                                 "ended_at": close, "started_by": "claim", "ended_by": "close"})
                            made["assignments"] += 1
                        ep.update(assigned_at=claim, first_reply_at=reply)
                        if rng.random() < 0.9 and close < now:
                            ep.update(closed_at=close, ended_at=close, outcome="closed", agent_id=closer,
                                      resolution="resolved" if rng.random() < 0.8 else "unresolved")
                            if rng.random() < 0.4:
                                buffers["s"].append({"conversation_id": cid, "episode_id": episode_id,
                                                     "agent_id": closer, "reason": reason,
                                                     "score": rng.choice([1, 2, 3, 4, 4, 5, 5, 5]),
                                                     "created_at": close})
                                made["csat"] += 1
                                if rng.random() < 0.3:
                                    buffers["n"].append({"conversation_id": cid, "episode_id": episode_id,
                                                         "score": rng.randint(0, 10), "created_at": close})
                                    made["nps"] += 1
                        else:
                            ep.update(agent_id=agent)
                        q = close + dt.timedelta(hours=rng.randint(1, 48))
                    else:
                        ended = q + dt.timedelta(seconds=rng.randint(60, 1800))
                        ep.update(outcome=rng.choice(["withdrawn", "abandoned"]), ended_at=ended)
                        q = ended + dt.timedelta(hours=rng.randint(1, 48))
                    buffers["e"].append(ep)
                if rng.random() < 0.1:
                    buffers["l"].append({"conversation_id": cid, "label": rng.choice(["talla", "envio", "pago"]),
                                         "added_at": at})
                    made["labels"] += 1
            row["first_handoff_at"] = first_handoff
            buffers["c"].append(row)
            made["conversations"] += 1
            flush(conn)
        flush(conn, force=True)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('handoff_episodes', 'id'),"
                                 " (SELECT MAX(id) FROM handoff_episodes))"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    return made


async def measure(url: str, days: int = DAYS, runs: int = RUNS, now: Optional[dt.datetime] = None) -> Dict[str, Any]:
    now = now or dt.datetime.now(UTC)
    policy = load_policy()
    storage = Storage(url)
    store = create_store(url)
    tz = policy.tz
    last = now.astimezone(tz).date()
    request = reports.ReportRequest(last - dt.timedelta(days=days - 1), last, policy.timezone)
    try:
        async def timed(req: reports.ReportRequest, cache: DayCache) -> float:
            t0 = time.perf_counter()
            await reports.summary(storage.run_read, store, req, policy, now, cache)
            return (time.perf_counter() - t0) * 1000

        # side by side in one run: every day from the database (no days kept) ...
        uncached = [await timed(request, DayCache(keep=False)) for _ in range(runs)]
        # ... and with settled days kept: the first request fills the memory (cold), then
        cache = DayCache()
        cold_ms = await timed(request, cache)
        times = [await timed(request, cache) for _ in range(runs)]
        other_range = reports.ReportRequest(request.first_day + dt.timedelta(days=7), request.last_day, request.tz_name)
        other_ms = await timed(other_range, cache)
        filtered_ms = await timed(reports.ReportRequest(request.first_day, request.last_day, request.tz_name,
                                                        channel="telegram"), cache)
        body = await reports.summary(storage.run_read, store, request, policy, now, cache)
        kept = {"computed_days": cache.computed_days, "reused_days": cache.reused_days}
        t0 = time.perf_counter()
        size = rows = 0
        async for chunk in reports.csv_chunks(storage.run, request, policy, now):
            size += len(chunk)
            rows += chunk.count(b"\r\n")
        csv_s = time.perf_counter() - t0
        tracemalloc.start()
        async for _chunk in reports.csv_chunks(storage.run, request, policy, now):
            pass
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"summary_ms": times, "p50_ms": statistics.median(times), "max_ms": max(times),
                "uncached_p50_ms": statistics.median(uncached), "cold_ms": cold_ms, "other_range_ms": other_ms,
                "kept": kept, "filtered_ms": filtered_ms, "conversations": body.get("conversations"),
                "handoffs": body.get("handoffs"), "csv_s": csv_s, "csv_bytes": size, "csv_rows": rows - 1,
                "csv_peak_mib": peak / 2 ** 20}
    finally:
        storage.dispose()
        getattr(store, "dispose", lambda: None)()


def run(conversations: int = CONVERSATIONS, days: int = DAYS, postgres: bool = True,
        log: Any = print) -> Dict[str, Any]:
    """Both databases (PostgreSQL skipped, and said so, when unreachable)."""
    results: Dict[str, Any] = {"conversations": conversations, "days": days}
    now = dt.datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="reports-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        seed_store(url)
        t0 = time.perf_counter()
        results["seeded"] = seed(url, conversations, days, now)
        log(f"SQLite seeded in {time.perf_counter() - t0:.1f} s: {results['seeded']}")
        results["sqlite"] = asyncio.run(measure(url, days, now=now))
        log(f"SQLite: {results['sqlite']}")
    if postgres:
        try:
            import psycopg2
            from sqlalchemy.engine import make_url
            server = make_url(os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/"))
            admin = psycopg2.connect(host=server.host or "127.0.0.1", port=server.port or 5432,
                                     user=server.username or "postgres", password=server.password,
                                     dbname=server.database or "postgres", connect_timeout=3)
        except Exception as exc:  # noqa: BLE001
            results["postgresql"] = {"skipped": f"PostgreSQL unreachable ({type(exc).__name__})"}
            return results
        admin.autocommit = True
        name = "reportsbench_" + secrets.token_hex(4)
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        try:
            url = server.set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
            seed_store(url)
            t0 = time.perf_counter()
            seed(url, conversations, days, now)
            log(f"PostgreSQL seeded in {time.perf_counter() - t0:.1f} s")
            results["postgresql"] = asyncio.run(measure(url, days, now=now))
            log(f"PostgreSQL: {results['postgresql']}")
        finally:
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.close()
    return results


def render(results: Dict[str, Any], machine: str) -> str:
    lines = [
        "## Reports",
        "",
        f"`python -m bench.bridge --reports-only`: {results['conversations']:,} conversations seeded over "
        f"{results['days']} days (bench/reports.py: the mix), the summary of the whole 90 days "
        "(read + compute in the bridge process, products from the store included), side by side in one run: "
        "every day read from the database (no days kept, p50 of 5), the first request of a new process "
        "(cold: it fills the memory of settled days, handoff/report_cache.py), then the same request again "
        "(warm: p50 and max of 5), another range (the last 83 days) and one channel; and the whole CSV "
        "streamed once; its peak is Python's allocations while streaming (tracemalloc). Target: summary "
        f"under 300 ms. {machine}",
        "",
        "| database | no days kept p50 | cold | warm p50 | warm max | other range | one channel | CSV rows | CSV time | CSV size | CSV peak memory |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for db in ("sqlite", "postgresql"):
        r = results.get(db)
        if not r:
            continue
        if "skipped" in r:
            lines.append(f"| {db} | {r['skipped']} | | | | | | | | | |")
            continue
        verdict = "✅" if r["p50_ms"] < 300 else "❌"
        lines.append(f"| {db} | {r['uncached_p50_ms']:.0f} ms | {r['cold_ms']:.0f} ms | {r['p50_ms']:.0f} ms {verdict} | "
                     f"{r['max_ms']:.0f} ms | {r['other_range_ms']:.0f} ms | {r['filtered_ms']:.0f} ms | "
                     f"{r['csv_rows']:,} | {r['csv_s']:.1f} s | {r['csv_bytes'] / 2 ** 20:.1f} MiB | "
                     f"{r['csv_peak_mib']:.1f} MiB |")
    return "\n".join(lines)
