"""The channel's constants, its errors, and the state every part of it shares
(``ChannelBase``: declared here, set by ``TelegramChannel.__init__``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, DefaultDict, Dict, List, Optional, Set

from aiohttp import web
from telegram import (
    Bot,
)
from telegram.ext import Application

from handoff.bridge import Bridge
from handoff.channels.telegram.consent import ConsentStore
from handoff.channels.telegram.pacing import Pacer
from handoff.channels.telegram.store import TelegramStore
from handoff.channels.telegram.texts import help_text
from handoff.settings import HandoffSettings
from handoff.texts import Texts

logger = logging.getLogger(__name__)




class TelegramChannelError(Exception):
    """The Telegram channel cannot start (e.g. its webhook port is taken)."""


class AttachmentRefused(TelegramChannelError):
    """A file the channel will not store; ``text`` tells the customer why (Spanish)."""

    def __init__(self, text: str) -> None:
        super().__init__("attachment refused")
        self.text = text



class ChannelBase:
    """What the channel's parts (outgoing.py, incoming.py, channel.py) share."""

    settings: HandoffSettings
    bridge: Bridge
    db: TelegramStore
    consent: ConsentStore
    pacer: Pacer
    # told of every outbox row sent (error None) or given up (the error):
    # (source_key, error); the order updates' (handoff/shop/notify.py)
    outbox_listeners: List[Callable[[Optional[str], Optional[str]], Awaitable[None]]]
    webhook_secret: str
    webhook_port: Optional[int]
    application: Application
    ready: asyncio.Event
    _chat_of: Dict[str, int]
    _conversation_of: Dict[int, str]
    _locks: DefaultDict[int, asyncio.Lock]
    _wake: asyncio.Event
    _not_telegram: Set[str]
    _leading: bool
    _led_before: bool
    _tasks: Set[asyncio.Task]
    _connect_task: Optional[asyncio.Task]
    _outbox_task: Optional[asyncio.Task]
    _runner: Optional[web.AppRunner]

    @property
    def webhook_mode(self) -> bool:
        return bool(self.settings.telegram_webhook_url)

    @property
    def texts(self) -> Texts:
        """The channel's texts in the store's voice (the bridge's policy)."""
        return self.bridge.texts

    def _help(self) -> str:
        """/ayuda's text, naming the store (policy ``store_name``)."""
        return help_text(self.texts, self.bridge.policy.store_name)

    @property
    def bot(self) -> Bot:
        return self.application.bot
