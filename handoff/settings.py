"""The bridge's settings, from environment variables with working defaults.

Every variable is listed in docs/protocol.md (configuration table). Secrets
(RASA_BRIDGE_SECRET, DATABASE_URL passwords, TELEGRAM_BOT_TOKEN, the webhook and
attachment secrets) are never logged and are left out of ``repr``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from core.store import default_database_url

STATIC_DIR = Path(__file__).resolve().parent / "static"
TELEGRAM_API = "https://api.telegram.org"
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret.
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SettingsError(ValueError):
    """An environment variable has a value the bridge cannot use."""


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = _number(env, name, default, minimum)
    if value != int(value):
        raise SettingsError(f"{name} must be a whole number, not {value}")
    return int(value)


def _telegram(env: Mapping[str, str]) -> Dict[str, Any]:
    """The TELEGRAM_* variables, checked (a bad value stops the start, it is
    never silently ignored)."""
    webhook_url = env.get("TELEGRAM_WEBHOOK_URL", "").strip()
    if webhook_url and urlsplit(webhook_url).scheme != "https":
        raise SettingsError("TELEGRAM_WEBHOOK_URL must be an https:// URL (Telegram only calls HTTPS webhooks)")
    secret = env.get("TELEGRAM_WEBHOOK_SECRET", "").strip()
    if secret and not WEBHOOK_SECRET.match(secret):
        raise SettingsError("TELEGRAM_WEBHOOK_SECRET may only have 1-256 characters A-Z, a-z, 0-9, _ and -")
    base = env.get("TELEGRAM_API_BASE_URL", "").strip().rstrip("/") or TELEGRAM_API
    if urlsplit(base).scheme not in ("http", "https"):
        raise SettingsError("TELEGRAM_API_BASE_URL must be an http(s):// URL")
    port = _int(env, "TELEGRAM_WEBHOOK_PORT", 8081, 0)
    if port > 65535:
        raise SettingsError(f"TELEGRAM_WEBHOOK_PORT must be a port number, not {port}")
    return dict(
        telegram_bot_token=env.get("TELEGRAM_BOT_TOKEN", "").strip(),
        telegram_webhook_url=webhook_url,
        telegram_webhook_secret=secret,
        telegram_webhook_port=port,
        telegram_api_base_url=base,
        telegram_poll_timeout_s=_int(env, "TELEGRAM_POLL_TIMEOUT_S", 30, 0),
        telegram_timeout_s=_number(env, "TELEGRAM_TIMEOUT_S", 10.0, 0.5),
        telegram_outbox_max_attempts=_int(env, "TELEGRAM_OUTBOX_MAX_ATTEMPTS", 8, 1),
    )


CLUSTER_KINDS = ("local", "redis")


def _cluster(env: Mapping[str, str]) -> Dict[str, Any]:
    """HANDOFF_CLUSTER and the Redis it shares (the same REDIS_* variables as
    Rasa's lock store)."""
    kind = (env.get("HANDOFF_CLUSTER", "").strip() or "local").lower()
    if kind not in CLUSTER_KINDS:
        raise SettingsError(f"HANDOFF_CLUSTER must be one of {', '.join(CLUSTER_KINDS)}, not {kind!r}")
    port = _int(env, "REDIS_PORT", 6379, 1)
    if port > 65535:
        raise SettingsError(f"REDIS_PORT must be a port number, not {port}")
    return dict(
        cluster=kind,
        redis_host=env.get("REDIS_HOST", "").strip() or "127.0.0.1",
        redis_port=port,
        redis_db=_int(env, "REDIS_DB", 0, 0),
        redis_password=env.get("REDIS_PASSWORD", ""),
        cluster_prefix=env.get("HANDOFF_CLUSTER_PREFIX", "").strip() or "tienda:bridge:",
        bridge_id=env.get("HANDOFF_BRIDGE_ID", "").strip(),
        leader_ttl_s=_number(env, "HANDOFF_LEADER_TTL_S", 10.0, 1.0),
        presence_ttl_s=_number(env, "HANDOFF_PRESENCE_TTL_S", 30.0, 3.0),
    )


def _actions_url(env: Mapping[str, str]) -> str:
    """ACTIONS_URL, else the local action server on ACTIONS_PORT, else ""."""
    url = env.get("ACTIONS_URL", "").strip().rstrip("/")
    if url:
        return url
    port = env.get("ACTIONS_PORT", "").strip()
    return f"http://127.0.0.1:{_int(env, 'ACTIONS_PORT', 5055, 1)}" if port else ""


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
    # Fault-injection tests only: the name of a step at which the process
    # exits at once, as kill -9 would (Bridge.crash_point). Empty in use.
    crash_at: str = ""
    # Several bridges (handoff/cluster.py): "local" keeps fan-out, locks and
    # presence in this process (one bridge per database); "redis" shares them
    # through Redis so any bridge serves any customer and agent.
    cluster: str = "local"
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_db: int = 0
    redis_password: str = field(default="", repr=False)
    cluster_prefix: str = "tienda:bridge:"
    bridge_id: str = ""            # "" : host name and process id
    leader_ttl_s: float = 10.0     # a dead leader's duties move after this long
    presence_ttl_s: float = 30.0   # a dead bridge's sockets count as gone after this long

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "HandoffSettings":
        env = os.environ if env is None else env
        rasa_url = env.get("RASA_URL", "").strip()
        if not rasa_url:
            host = env.get("RASA_HOST", "").strip() or "127.0.0.1"
            rasa_url = f"http://{host}:{_int(env, 'RASA_PORT', 5005, 1)}"
        origins_raw = env.get("HANDOFF_ALLOWED_ORIGINS", "").strip()
        origins = tuple(o.strip().rstrip("/") for o in origins_raw.split(",") if o.strip()) or None
        port = _int(env, "HANDOFF_PORT", 8080, 0)
        if port > 65535:
            raise SettingsError(f"HANDOFF_PORT must be a port number, not {port}")
        return cls(
            host=env.get("HANDOFF_HOST", "").strip() or "127.0.0.1",
            port=port,
            rasa_url=rasa_url.rstrip("/"),
            rasa_bridge_secret=env.get("RASA_BRIDGE_SECRET", "").strip(),
            actions_url=_actions_url(env),
            rasa_timeout_s=_number(env, "HANDOFF_RASA_TIMEOUT_S", 10.0, 0.05),
            agent_grace_s=_number(env, "HANDOFF_AGENT_GRACE_S", 120.0),
            allowed_origins=origins,
            max_frame_bytes=_int(env, "HANDOFF_MAX_FRAME_BYTES", 65536, 256),
            rate_limit=_int(env, "HANDOFF_RATE_LIMIT", 20, 1),
            rate_window_s=_number(env, "HANDOFF_RATE_WINDOW_S", 10.0, 0.1),
            database_url=env.get("DATABASE_URL", "").strip() or default_database_url(),
            resume_action=env.get("HANDOFF_RESUME_ACTION", "").strip() or "utter_handoff_resumed",
            queue_left_action=env.get("HANDOFF_QUEUE_LEFT_ACTION", "").strip() or "utter_queue_left",
            default_handling_s=_int(env, "HANDOFF_DEFAULT_HANDLING_S", 300, 1),
            queue_ack_interval_s=_number(env, "HANDOFF_QUEUE_ACK_INTERVAL_S", 300.0),
            queue_abandon_after_s=_number(env, "HANDOFF_QUEUE_ABANDON_AFTER_S", 900.0),
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
            attachment_secret=env.get("HANDOFF_ATTACHMENT_SECRET", "").strip(),
            attachment_url_ttl_s=_int(env, "HANDOFF_ATTACHMENT_URL_TTL_S", 3600, 30),
            max_attachment_bytes=_int(env, "HANDOFF_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024, 1024),
            crash_at=env.get("HANDOFF_CRASH_AT", "").strip(),
            **_cluster(env),
            **_telegram(env),
        )

    def origins_for(self, port: int) -> Tuple[Optional[str], ...]:
        """Accepted Origin header values; None stands for clients that send no
        Origin (non-browser). ``port`` is the port really bound (tests use 0)."""
        if self.allowed_origins is not None:
            return (None, *self.allowed_origins)
        return (None, f"http://127.0.0.1:{port}", f"http://localhost:{port}")
