"""The bridge's settings, from environment variables with working defaults.

Every variable is listed in docs/protocol.md (configuration table). Secrets
(RASA_JWT_SECRET, DATABASE_URL passwords) are never logged.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Tuple

from actions.store import default_database_url

STATIC_DIR = Path(__file__).resolve().parent / "static"


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


@dataclass(frozen=True)
class HandoffSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_jwt_secret: str = ""
    rasa_timeout_s: float = 10.0
    agent_grace_s: float = 120.0
    allowed_origins: Optional[Tuple[str, ...]] = None  # None: same-host origins of `port`
    max_frame_bytes: int = 8192
    rate_limit: int = 20
    rate_window_s: float = 10.0
    database_url: str = field(default_factory=default_database_url)
    resume_action: str = "utter_handoff_resumed"
    default_handling_s: int = 300
    log_level: str = "INFO"

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
            rasa_jwt_secret=env.get("RASA_JWT_SECRET", "").strip(),
            rasa_timeout_s=_number(env, "HANDOFF_RASA_TIMEOUT_S", 10.0, 0.05),
            agent_grace_s=_number(env, "HANDOFF_AGENT_GRACE_S", 120.0),
            allowed_origins=origins,
            max_frame_bytes=_int(env, "HANDOFF_MAX_FRAME_BYTES", 8192, 256),
            rate_limit=_int(env, "HANDOFF_RATE_LIMIT", 20, 1),
            rate_window_s=_number(env, "HANDOFF_RATE_WINDOW_S", 10.0, 0.1),
            database_url=env.get("DATABASE_URL", "").strip() or default_database_url(),
            resume_action=env.get("HANDOFF_RESUME_ACTION", "").strip() or "utter_handoff_resumed",
            default_handling_s=_int(env, "HANDOFF_DEFAULT_HANDLING_S", 300, 1),
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
        )

    def origins_for(self, port: int) -> Tuple[Optional[str], ...]:
        """Accepted Origin header values; None stands for clients that send no
        Origin (non-browser). ``port`` is the port really bound (tests use 0)."""
        if self.allowed_origins is not None:
            return (None, *self.allowed_origins)
        return (None, f"http://127.0.0.1:{port}", f"http://localhost:{port}")
