"""``python -m handoff`` starts the bridge (and the Telegram channel when
TELEGRAM_BOT_TOKEN is set); ``python -m handoff agent add NAME`` creates an
agent (``--role agent|supervisor``, default agent; supervisors read the
reports) and prints its token alone on the last line; ``python -m handoff
shop-event TOPIC ORDER_ID`` sends a sample order event signed with
SHOP_WEBHOOK_SECRET (handoff/shop/sample.py) and prints the answer."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from typing import Optional, Sequence

from core.store.types import ORDER_STATUSES, SHOP_EVENT_TOPICS
from handoff import logs
from handoff.agents import ROLES, AgentError, add_agent
from handoff.channels.telegram import TelegramChannelError
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings, SettingsError
from handoff.shop import sample
from handoff.shop.events import SHOP_EVENTS_PATH
from handoff.storage import Storage, StorageError


async def _run(settings: HandoffSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await BridgeServer(settings).serve_forever(stop)


async def _add_agent(settings: HandoffSettings, name: str, role: str = "agent") -> str:
    storage = Storage(settings.database_url)
    try:
        await storage.create_schema()
        taken = await storage.agent_named(name)
        if taken is not None:  # the console, transfers and reports tell agents by name
            raise AgentError(f"ya existe un agente llamado «{taken.name}» (id {taken.id}): "
                             f"elige otro nombre, p. ej. «{taken.name} G.» (an agent with that name exists)")
        agent, token = await add_agent(storage, name, role)
    finally:
        storage.dispose()
    print(f"Agente creado: {agent.name} (id {agent.id}, rol {agent.role}). Guarda el token, no se vuelve a mostrar:")
    return token


def _shop_event(settings: HandoffSettings, args: argparse.Namespace) -> int:
    if not settings.shop_webhook_secret:
        print("error: set SHOP_WEBHOOK_SECRET (the bridge's) to sign the event", file=sys.stderr)
        return 2
    body = sample.sample_event(
        args.topic, args.order_id, args.event_id or sample.new_event_id(), int(time.time()), status=args.status,
        carrier=args.carrier, tracking_number=args.tracking_number, expected_delivery=args.expected_delivery,
        amount=args.amount, return_number=args.return_number)
    url = args.url or f"http://{settings.host}:{settings.port}{SHOP_EVENTS_PATH}"
    print(json.dumps(body, ensure_ascii=False))
    try:
        status, answer = sample.send_event(url, settings.shop_webhook_secret, body)
    except OSError as exc:
        print(f"error: {url}: {exc}", file=sys.stderr)
        return 1
    print(f"HTTP {status} {answer}")
    return 0 if 200 <= status < 300 else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff", description="Handoff bridge")
    commands = parser.add_subparsers(dest="command")
    agent = commands.add_parser("agent", help="manage agents")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    add = agent_commands.add_parser("add", help="create an agent and print its token")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="agent",
                     help="agent (default) or supervisor (may read /api/reports/*)")
    event = commands.add_parser("shop-event", help="send a sample shop order event, signed with SHOP_WEBHOOK_SECRET")
    event.add_argument("topic", choices=SHOP_EVENT_TOPICS)
    event.add_argument("order_id")
    event.add_argument("--status", choices=ORDER_STATUSES, help="the order's status (default: the topic's)")
    event.add_argument("--carrier")
    event.add_argument("--tracking-number")
    event.add_argument("--expected-delivery", metavar="YYYY-MM-DD")
    event.add_argument("--amount", help="refund.issued: the amount refunded (default 10.00)")
    event.add_argument("--return-number", metavar="DEV-123456")
    event.add_argument("--event-id", help="default: a new one (send one twice to see a repeat answered once)")
    event.add_argument("--url", help="default: http://HANDOFF_HOST:HANDOFF_PORT/api/shop/events")
    args = parser.parse_args(argv)
    try:
        settings = HandoffSettings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "shop-event":
        return _shop_event(settings, args)
    if args.command == "agent":
        try:
            token = asyncio.run(_add_agent(settings, args.name, args.role))
        except (AgentError, StorageError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(token)
        return 0
    logs.configure(settings.log_level)
    for noisy in ("httpx", "httpcore"):  # their INFO lines name the Bot API URL, which holds the token
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        asyncio.run(_run(settings))
    except TelegramChannelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
