"""Telegram, one more channel of the bridge (the whole design: channel.py).

One file per job: constants.py (fixed names), texts.py (what customers read
and how buttons are drawn), store.py (the channel's tables and SQL), consent.py (which chats take
order updates), pacing.py (the outbox's rate limits),
outgoing.py (the customer sink and the outbox), incoming.py (updates into
the bridge), channel.py (PTB's life cycle, polling or the webhook, leading
among several bridges). The names below are the channel's public ones.
"""
from handoff.channels.telegram.base import AttachmentRefused, TelegramChannelError
from handoff.channels.telegram.channel import TelegramChannel
from handoff.channels.telegram.consent import ConsentStore, consent_table
from handoff.channels.telegram.constants import *  # noqa: F403
from handoff.channels.telegram.store import TelegramStore, buttons_table, chats_table, metadata, outbox_table, updates_table
from handoff.channels.telegram.texts import *  # noqa: F403

__all__ = ["AttachmentRefused", "ConsentStore", "TelegramChannel", "consent_table", "TelegramChannelError", "TelegramStore", "buttons_table",
           "chats_table", "metadata", "outbox_table", "updates_table"]
