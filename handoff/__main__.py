"""``python -m handoff`` starts the bridge (and the Telegram channel when
TELEGRAM_BOT_TOKEN is set); ``python -m handoff agent add NAME`` creates an
agent (``--role agent|supervisor``, default agent; supervisors read the
reports) and prints its token alone on the last line."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Optional, Sequence

from handoff import logs
from handoff.agents import ROLES, AgentError, add_agent
from handoff.channels.telegram import TelegramChannelError
from handoff.server import BridgeServer
from handoff.settings import HandoffSettings, SettingsError
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff", description="Handoff bridge")
    commands = parser.add_subparsers(dest="command")
    agent = commands.add_parser("agent", help="manage agents")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True)
    add = agent_commands.add_parser("add", help="create an agent and print its token")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="agent",
                     help="agent (default) or supervisor (may read /api/reports/*)")
    args = parser.parse_args(argv)
    try:
        settings = HandoffSettings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
