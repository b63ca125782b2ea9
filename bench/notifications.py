"""``python -m bench.notifications``: 1,000 order updates queued, time to
deliver them to Telegram against the stand-in Bot API
(tests/telegram/conftest.py ``FakeBotApi``), and no message twice (issue 12).

One process: the stand-in Bot API, the stand-in Rasa and a real bridge
(``BridgeServer`` with its Telegram channel and the Notifier) on a seeded
SQLite store (a new file per case). Every demo customer (64) gets a
Telegram chat that started the bot and is verified for them; ``--updates``
``order.delayed`` events (each a new date for one of the customer's orders:
one update each) are applied to the store first, with nobody told, then the
leader's Notifier is woken and the clock runs until the stand-in has every
message. Two cases, side by side: ``paced`` (the defaults: 30 messages/s
overall, 1/s per chat after a burst of 3) and ``unpaced`` (both limits
lifted: what planning and sending cost themselves). After each case the
Notifier plans and delivers again (as a restart would) and the count must
not move.

Measured: seconds from the wake-up to the last message, messages/s, the
most messages in any one second overall and to one chat (the pacer's
limits), duplicates (the same chat and text twice, and outbox rows per
notification), this process's CPU seconds. Limits: the stand-in answers at
once (no network), everything shares this process's one loop and the 2
cores with whatever else runs; ports in 25300-25399.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from aiohttp import web

from bench.assistant import DOCS, machine, write_docs
from core.store import ShopEvent
from core.store.seed import seed_store
from handoff.bridge import Bridge, customer_proof
from handoff.notifications import NotificationStore
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings
from tests.handoff.conftest import BRIDGE_SECRET, OPEN_TIME, FakeRasa
from tests.telegram.conftest import TOKEN, FakeBotApi

PORTS = (25300, 25301, 25302)  # bridge, stand-in Bot API, stand-in Rasa
MARK_BEGIN = "<!-- notifications-bench:begin -->"
MARK_END = "<!-- notifications-bench:end -->"


class TimedBotApi(FakeBotApi):
    """The stand-in, noting when each message came."""

    times: List[float]

    async def m_sendMessage(self, params: Dict[str, Any]) -> web.Response:
        answer = await super().m_sendMessage(params)
        self.times.append(time.monotonic())
        return answer


async def serve_bot_api(port: int) -> Tuple[TimedBotApi, web.AppRunner]:
    api = TimedBotApi()
    api.times = []
    runner = web.AppRunner(api.app(), shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    api.url = f"http://127.0.0.1:{port}"
    return api, runner


async def chats_for_customers(server: BridgeServer) -> List[Tuple[int, str]]:
    """A started, verified chat per demo customer with orders: (chat id, an order id)."""
    bridge, telegram = server.bridge, server.telegram
    assert telegram is not None
    from core.store.seed import load_demo_data

    emails = sorted({o["email"] for o in load_demo_data()["orders"]})
    found: List[Tuple[int, str]] = []
    for n, email in enumerate(emails):
        customer = await bridge.store.get_customer_by_email(email)
        assert customer is not None
        orders = await bridge.store.orders_for_customer(customer.id)
        chat_id = 10_000 + n
        conversation, _ = await bridge.open_session(None, channel="telegram")
        await telegram.db.add_chat(chat_id, conversation.id, "private")
        await telegram.consent.started(chat_id)
        await bridge.verify_customer(conversation.id, *customer_proof(customer, "telegram_phone"))
        found.append((chat_id, orders[0].order_id))
    return found


async def queue_events(bridge: Bridge, chats: List[Tuple[int, str]], updates: int, tag: str) -> None:
    """``updates`` order.delayed events applied to the store (nobody told yet)."""
    now = bridge.clock()
    for n in range(updates):
        _, order_id = chats[n % len(chats)]
        day = now.date() + dt.timedelta(days=10 + n // len(chats) + (0 if tag == "paced" else 400))
        event_id = f"bench-{tag}-{n}"
        payload = json.dumps({"topic": "order.delayed", "order": {"order_id": order_id,
                                                                  "expected_delivery": day.isoformat()}})
        await bridge.store.apply_shop_event(ShopEvent(
            event_id=event_id, topic="order.delayed", order_id=order_id, occurred_at=now, payload=payload,
            expected_delivery=day))


async def run_case(tag: str, database_url: str, updates: int, per_s: float, chat_per_s: float,
                   rasa_url: str) -> Dict[str, Any]:
    api, api_runner = await serve_bot_api(PORTS[1])
    settings = HandoffSettings(host="127.0.0.1", port=PORTS[0], rasa_url=rasa_url, rasa_bridge_secret=BRIDGE_SECRET,
                               database_url=database_url, telegram_bot_token=TOKEN, telegram_api_base_url=api.url,
                               telegram_poll_timeout_s=1, telegram_timeout_s=3.0, telegram_send_per_s=per_s,
                               telegram_chat_send_per_s=chat_per_s, shop_webhook_secret="bench")
    server = BridgeServer(settings, Bridge(settings, clock=lambda: OPEN_TIME))  # 12:00 in Madrid: no quiet hours
    await server.start()
    try:
        assert server.telegram is not None and server.notifier is not None
        await asyncio.wait_for(server.telegram.ready.wait(), 10)
        await server.notifier.unlead()  # queued first, told all at once
        chats = await chats_for_customers(server)
        await queue_events(server.bridge, chats, updates, tag)
        before = len(api.sent)
        cpu0, start = time.process_time(), time.monotonic()
        await server.notifier.lead()
        server.notifier.wake()
        async with api.changed:
            await asyncio.wait_for(api.changed.wait_for(lambda: len(api.sent) - before >= updates), 600)
        elapsed = time.monotonic() - start
        cpu = time.process_time() - cpu0
        await server.notifier.run_once()  # as a restart would: nothing more
        rows = await NotificationStore(server.bridge.storage).rows()
        outbox = await server.telegram.db.rows()
    finally:
        await server.stop()
        await api_runner.cleanup()
    sent = api.sent[before:]
    times = api.times[before:]
    pairs = collections.Counter((m["chat_id"], m["text"]) for m in sent)
    per_second = collections.Counter(int(t - start) for t in times)
    per_chat_second = collections.Counter((m["chat_id"], int(t - start)) for m, t in zip(sent, times))
    keys = collections.Counter(r["source_key"] for r in outbox if (r["source_key"] or "").startswith("n:"))
    return {"case": tag, "updates": updates, "chats": len(chats), "sent": len(sent), "seconds": round(elapsed, 2),
            "per_s": round(len(sent) / elapsed, 1), "most_in_a_second": max(per_second.values()),
            "most_to_a_chat_in_a_second": max(per_chat_second.values()),
            "same_text_twice": sum(1 for c in pairs.values() if c > 1),
            "outbox_rows_twice": sum(1 for c in keys.values() if c > 1),
            "notifications": sum(1 for r in rows if r["event_key"].startswith("delay:")),
            "cpu_s": round(cpu, 2), "limits": {"overall_per_s": per_s, "chat_per_s": chat_per_s}}


async def main_async(args: argparse.Namespace) -> List[Dict[str, Any]]:
    rasa = await FakeRasa().serve(port=PORTS[2])
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp:
            for tag, per_s, chat_per_s in (("paced", 30.0, 1.0), ("unpaced", 100_000.0, 100_000.0)):
                url = f"sqlite:///{Path(tmp) / (tag + '.db')}"
                seed_store(url)
                results.append(await run_case(tag, url, args.updates, per_s, chat_per_s, rasa.url))
                print(json.dumps(results[-1]), flush=True)
    finally:
        await rasa.stop()
    return results


def section(results: List[Dict[str, Any]], load_before: Tuple[float, ...], load_after: Tuple[float, ...]) -> str:
    """The docs/benchmarks.md block of a run."""
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    rows = ["| case | limits (overall / per chat, msg/s) | updates | chats | seconds to deliver | messages/s "
            "| most in one second | most to one chat in one second | messages twice | CPU s (this process) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        limits = r["limits"]
        shown = ("none" if limits["overall_per_s"] >= 1000 else
                 f"{limits['overall_per_s']:g} / {limits['chat_per_s']:g}")
        rows.append(f"| {r['case']} | {shown} | {r['updates']} | {r['chats']} | **{r['seconds']}** | {r['per_s']} "
                    f"| {r['most_in_a_second']} | {r['most_to_a_chat_in_a_second']} "
                    f"| {r['same_text_twice'] + r['outbox_rows_twice']} | {r['cpu_s']} |")
    load = ", ".join(f"{v:.2f}" for v in load_before) + " before, " + ", ".join(f"{v:.2f}" for v in load_after) + " after"
    return (f"## Order updates to Telegram — measured {when}\n\n"
            f"`python -m bench.notifications`. Machine: {machine()}; load average (1, 5, 15 min) {load} "
            "(the 2 cores are shared with other work). One process: a real bridge with its Telegram channel and "
            "the order-update Notifier on a seeded SQLite store, the stand-in Bot API "
            "(tests/telegram/conftest.py) and the stand-in Rasa. 64 chats (every demo customer with orders), each "
            "started and verified; the updates are `order.delayed` events applied to the store first (nobody "
            "told), then the leader's Notifier is woken: the time runs from then to the stand-in's last message. "
            "Each update after a chat's first also clears the previous one's buttons (editMessageReplyMarkup, "
            "as any new buttons do; not counted as messages). After each case the Notifier plans and delivers "
            "again, as a restart would: nothing more is sent.\n\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--write", action="store_true", help=f"rewrite this benchmark's section of {DOCS.name}")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"load: {load_before}", flush=True)
    results = asyncio.run(main_async(args))
    load_after = os.getloadavg()
    print(f"load: {load_after}", flush=True)
    text = section(results, load_before, load_after)
    print(text)
    if args.write:
        write_docs(text, MARK_BEGIN, MARK_END)
    failed = [r["case"] for r in results if r["same_text_twice"] or r["outbox_rows_twice"] or r["sent"] != r["updates"]]
    if failed:
        raise SystemExit(f"messages twice or missing in: {', '.join(failed)}")


if __name__ == "__main__":
    main()
