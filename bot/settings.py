"""Settings from environment variables, with working defaults.

Every variable is listed in the README's configuration table. Secrets
(RASA_JWT_SECRET, RASA_BRIDGE_SECRET, ACTION_SERVER_TOKEN, DATABASE_URL
passwords, TELEGRAM_BOT_TOKEN) come only from the environment and are never
printed or logged; the first three get a random value per run when unset,
handed to the children by environment only.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A variable has a value the processes cannot use."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc
    if not 0 < value < 65536 and name.endswith("PORT"):
        raise SettingsError(f"{name} must be a port number (1-65535), not {value}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str:
    """The variable's value, or a random one for this run."""
    return env.get(name, "").strip() or secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Settings:
    rasa_host: str
    rasa_port: int
    actions_port: int
    model_path: Path
    rasa_jwt_secret: str = field(repr=False)
    rasa_jwt_secret_generated: bool
    database_url: Optional[str]
    log_level: str
    handoff_host: str = "127.0.0.1"
    handoff_port: int = 8080
    # The bridge's key to Rasa's bridge channel, and Rasa's to the action server.
    rasa_bridge_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    action_server_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        secret = env.get("RASA_JWT_SECRET", "").strip()
        return cls(
            rasa_host=env.get("RASA_HOST", "127.0.0.1").strip() or "127.0.0.1",
            rasa_port=_int(env, "RASA_PORT", 5005),
            actions_port=_int(env, "ACTIONS_PORT", 5055),
            model_path=Path(env.get("RASA_MODEL", "").strip() or ROOT / "models" / "assistant.tar.gz"),
            # Rasa's HTTP API is protected by JWT (HS256, Authorization header,
            # never a token in the URL). Without RASA_JWT_SECRET a random one is
            # made for this run and handed to the children by environment only.
            rasa_jwt_secret=secret or secrets.token_urlsafe(32),
            rasa_jwt_secret_generated=not secret,
            database_url=env.get("DATABASE_URL", "").strip() or None,
            log_level=(env.get("LOG_LEVEL", "INFO").strip() or "INFO").upper(),
            handoff_host=env.get("HANDOFF_HOST", "127.0.0.1").strip() or "127.0.0.1",
            handoff_port=_int(env, "HANDOFF_PORT", 8080),
            rasa_bridge_secret=_secret(env, "RASA_BRIDGE_SECRET"),
            action_server_token=_secret(env, "ACTION_SERVER_TOKEN"),
        )

    @property
    def rasa_url(self) -> str:
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def handoff_url(self) -> str:
        return f"http://{self.handoff_host}:{self.handoff_port}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    def child_env(self, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """Environment for the Rasa server and the action server."""
        env = dict(os.environ if base is None else base)
        env.update(
            RASA_HOST=self.rasa_host,
            RASA_PORT=str(self.rasa_port),
            ACTIONS_PORT=str(self.actions_port),
            RASA_MODEL=str(self.model_path),
            LOG_LEVEL=self.log_level,
            HANDOFF_HOST=self.handoff_host,
            HANDOFF_PORT=str(self.handoff_port),
            RASA_JWT_SECRET=self.rasa_jwt_secret,
            RASA_BRIDGE_SECRET=self.rasa_bridge_secret,
            ACTION_SERVER_TOKEN=self.action_server_token,
            ACTION_ENDPOINT_URL=f"{self.actions_url}/webhook",
            SANIC_HOST="127.0.0.1",
            PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env
