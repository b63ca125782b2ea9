"""The bridge's settings, from environment variables with working defaults.

The variables are read with core/settings.py's readers, and the ones the
launcher reads too (Rasa's address, HANDOFF_HOST/PORT, ACTIONS_PORT,
DATABASE_URL, RASA_BRIDGE_SECRET, LOG_LEVEL, REDIS_*) through its shared
pieces, so each has one default and one error message; ``SettingsError`` is
core's, importable from here as before. Every variable is listed in the
README's configuration table (the bridge's own in docs/protocol.md too). Secrets
(RASA_BRIDGE_SECRET, DATABASE_URL passwords, TELEGRAM_BOT_TOKEN, the webhook,
attachment and shop secrets) are never logged and are left out of ``repr``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from core.settings import (
    BridgeAddress,
    RasaAddress,
    RedisSettings,
    SettingsError,
    actions_port,
    actions_url,
    bridge_secret,
    choice,
    database_url,
    log_level,
    number,
    port,
    text,
    whole,
)
from core.store import default_database_url

__all__ = ["CLUSTER_KINDS", "STATIC_DIR", "TELEGRAM_API", "HandoffSettings", "SettingsError"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
TELEGRAM_API = "https://api.telegram.org"
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret.
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _telegram(env: Mapping[str, str]) -> Dict[str, Any]:
    """The TELEGRAM_* variables, checked (a bad value stops the start, it is
    never silently ignored)."""
    webhook_url = text(env, "TELEGRAM_WEBHOOK_URL")
    if webhook_url and urlsplit(webhook_url).scheme != "https":
        raise SettingsError("TELEGRAM_WEBHOOK_URL must be an https:// URL (Telegram only calls HTTPS webhooks)")
    secret = text(env, "TELEGRAM_WEBHOOK_SECRET")
    if secret and not WEBHOOK_SECRET.match(secret):
        raise SettingsError("TELEGRAM_WEBHOOK_SECRET may only have 1-256 characters A-Z, a-z, 0-9, _ and -")
    base = text(env, "TELEGRAM_API_BASE_URL").rstrip("/") or TELEGRAM_API
    if urlsplit(base).scheme not in ("http", "https"):
        raise SettingsError("TELEGRAM_API_BASE_URL must be an http(s):// URL")
    return dict(
        telegram_bot_token=text(env, "TELEGRAM_BOT_TOKEN"),
        telegram_webhook_url=webhook_url,
        telegram_webhook_secret=secret,
        telegram_webhook_port=port(env, "TELEGRAM_WEBHOOK_PORT", 8081, lowest=0),
        telegram_api_base_url=base,
        telegram_poll_timeout_s=whole(env, "TELEGRAM_POLL_TIMEOUT_S", 30, 0),
        telegram_timeout_s=number(env, "TELEGRAM_TIMEOUT_S", 10.0, 0.5),
        telegram_outbox_max_attempts=whole(env, "TELEGRAM_OUTBOX_MAX_ATTEMPTS", 8, 1),
        telegram_send_per_s=number(env, "TELEGRAM_SEND_PER_S", 30.0, 0.1),
        telegram_chat_send_per_s=number(env, "TELEGRAM_CHAT_SEND_PER_S", 1.0, 0.01),
    )


CLUSTER_KINDS = ("local", "redis")


def _cluster(env: Mapping[str, str]) -> Dict[str, Any]:
    """HANDOFF_CLUSTER and the Redis it shares (the same REDIS_* variables as
    Rasa's lock store, read by core/settings.py's ``RedisSettings``)."""
    return dict(
        cluster=choice(env, "HANDOFF_CLUSTER", "local", CLUSTER_KINDS),
        redis=RedisSettings.from_env(env),
        cluster_prefix=text(env, "HANDOFF_CLUSTER_PREFIX", "tienda:bridge:"),
        bridge_id=text(env, "HANDOFF_BRIDGE_ID"),
        leader_ttl_s=number(env, "HANDOFF_LEADER_TTL_S", 10.0, 1.0),
        presence_ttl_s=number(env, "HANDOFF_PRESENCE_TTL_S", 30.0, 3.0),
    )


def _rasa_url(env: Mapping[str, str]) -> str:
    """RASA_URL, else Rasa's own address (RASA_HOST, RASA_PORT; read only then)."""
    return (text(env, "RASA_URL") or RasaAddress.from_env(env).url).rstrip("/")


def _actions_url(env: Mapping[str, str]) -> str:
    """ACTIONS_URL, else the local action server on ACTIONS_PORT (read only
    then), else ""."""
    url = text(env, "ACTIONS_URL").rstrip("/")
    if url:
        return url
    local = actions_port(env)
    return actions_url(local) if local else ""


@dataclass(frozen=True)
class HandoffSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_bridge_secret: str = field(default="", repr=False)  # the key to Rasa's bridge channel
    actions_url: str = ""  # the action server, for /health ("" : not checked)
    rasa_timeout_s: float = 10.0
    agent_grace_s: float = 120.0
    allowed_origins: Optional[Tuple[str, ...]] = None  # None: same-host origins of `port`
    max_frame_bytes: int = 65536  # a 4,000-character message even when JSON-escaped
    rate_limit: int = 20
    rate_window_s: float = 10.0
    database_url: str = field(default_factory=default_database_url)
    resume_action: str = "utter_handoff_resumed"
    queue_left_action: str = "utter_queue_left"  # the bot's line when the customer leaves the queue
    default_handling_s: int = 300
    # a queued shopper who writes is told their message reached the team: once,
    # then again only after this many seconds or when their position changed
    queue_ack_interval_s: float = 300.0
    # a queued web conversation without a shopper's socket this long leaves the
    # queue as ``abandoned`` (0: never); Telegram conversations are never abandoned
    queue_abandon_after_s: float = 900.0
    log_level: str = "INFO"
    # Attachments (photos, documents) shown to agents at /attachments/<id>.
    attachment_secret: str = field(default="", repr=False)  # "" : a random one per run
    attachment_url_ttl_s: int = 3600
    max_attachment_bytes: int = 10 * 1024 * 1024
    # Telegram: the channel runs only when the token is set.
    telegram_bot_token: str = field(default="", repr=False)
    telegram_webhook_url: str = ""                          # "" : long polling
    telegram_webhook_secret: str = field(default="", repr=False)  # "" : a random one per run
    telegram_webhook_port: int = 8081
    telegram_api_base_url: str = TELEGRAM_API
    telegram_poll_timeout_s: int = 30
    telegram_timeout_s: float = 10.0
    telegram_outbox_max_attempts: int = 8
    # the outbox's pace (handoff/channels/telegram/pacing.py): Telegram's limits
    telegram_send_per_s: float = 30.0
    telegram_chat_send_per_s: float = 1.0
    # Fault-injection tests only: the name of a step at which the process
    # exits at once, as kill -9 would (Bridge.crash_point). Empty in use.
    crash_at: str = ""
    # Several bridges (handoff/cluster.py): "local" keeps fan-out, locks and
    # presence in this process (one bridge per database); "redis" shares them
    # through Redis so any bridge serves any customer and agent.
    cluster: str = "local"
    redis: RedisSettings = field(default_factory=RedisSettings)
    cluster_prefix: str = "tienda:bridge:"
    bridge_id: str = ""            # "" : host name and process id
    leader_ttl_s: float = 10.0     # a dead leader's duties move after this long
    presence_ttl_s: float = 30.0   # a dead bridge's sockets count as gone after this long
    # The shop (handoff/shop/): the key of its signed events and identities
    # ("" : POST /api/shop/events answers 503, identities are ignored).
    shop_webhook_secret: str = field(default="", repr=False)
    shop_events_max_bytes: int = 65536
    # GET /demo/identity signs any e-mail for the demo page's "logged-in"
    # mode: never on where real customers are.
    demo_identity: bool = False
    # Order updates (handoff/shop/notify.py): how often the leader looks for
    # shipped orders past their date (and for held updates now due).
    late_check_s: float = 3600.0

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "HandoffSettings":
        env = os.environ if env is None else env
        origins_raw = text(env, "HANDOFF_ALLOWED_ORIGINS")
        origins = tuple(o.strip().rstrip("/") for o in origins_raw.split(",") if o.strip()) or None
        address = BridgeAddress.from_env(env)
        return cls(
            host=address.host,
            port=address.port,
            rasa_url=_rasa_url(env),
            rasa_bridge_secret=bridge_secret(env),
            actions_url=_actions_url(env),
            rasa_timeout_s=number(env, "HANDOFF_RASA_TIMEOUT_S", 10.0, 0.05),
            agent_grace_s=number(env, "HANDOFF_AGENT_GRACE_S", 120.0),
            allowed_origins=origins,
            max_frame_bytes=whole(env, "HANDOFF_MAX_FRAME_BYTES", 65536, 256),
            rate_limit=whole(env, "HANDOFF_RATE_LIMIT", 20, 1),
            rate_window_s=number(env, "HANDOFF_RATE_WINDOW_S", 10.0, 0.1),
            database_url=database_url(env) or default_database_url(),
            resume_action=text(env, "HANDOFF_RESUME_ACTION", "utter_handoff_resumed"),
            queue_left_action=text(env, "HANDOFF_QUEUE_LEFT_ACTION", "utter_queue_left"),
            default_handling_s=whole(env, "HANDOFF_DEFAULT_HANDLING_S", 300, 1),
            queue_ack_interval_s=number(env, "HANDOFF_QUEUE_ACK_INTERVAL_S", 300.0),
            queue_abandon_after_s=number(env, "HANDOFF_QUEUE_ABANDON_AFTER_S", 900.0),
            log_level=log_level(env),
            attachment_secret=text(env, "HANDOFF_ATTACHMENT_SECRET"),
            attachment_url_ttl_s=whole(env, "HANDOFF_ATTACHMENT_URL_TTL_S", 3600, 30),
            max_attachment_bytes=whole(env, "HANDOFF_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, 1024),
            crash_at=text(env, "HANDOFF_CRASH_AT"),
            shop_webhook_secret=text(env, "SHOP_WEBHOOK_SECRET"),
            shop_events_max_bytes=whole(env, "SHOP_EVENTS_MAX_BYTES", 65536, 1024),
            demo_identity=choice(env, "HANDOFF_DEMO_IDENTITY", "off", ("on", "off")) == "on",
            late_check_s=number(env, "HANDOFF_LATE_CHECK_S", 3600.0, 1.0),
            **_cluster(env),
            **_telegram(env),
        )

    def origins_for(self, port: int) -> Tuple[Optional[str], ...]:
        """Accepted Origin header values; None stands for clients that send no
        Origin (non-browser). ``port`` is the port really bound (tests use 0)."""
        if self.allowed_origins is not None:
            return (None, *self.allowed_origins)
        return (None, f"http://127.0.0.1:{port}", f"http://localhost:{port}")
