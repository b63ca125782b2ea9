"""The one parser of environment variables: typed readers, one
``SettingsError``, and the small frozen pieces that more than one process
reads (Rasa's address, the action server's port, the bridge's address, Redis,
the database URL, the bridge secret, the log level).

Why one module: the launcher (bot/settings.py: ``Settings``, ``RasaStores``)
and the bridge (handoff/settings.py: ``HandoffSettings``) read many of the same
variables; reading each variable in one place gives it one default and one
error message in every process. Why in core/: the bridge must load nothing of
bot/ or Rasa (tests/test_seams.py), and this module imports only the standard
library.

Limits: values are read once, at start-up, from the mapping given (the
caller passes ``os.environ``); nothing here logs, and secrets are kept out of
``repr``. Every variable is listed once in the README's configuration table.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

Env = Mapping[str, str]

DEFAULT_ACTIONS_PORT = 5055


class SettingsError(ValueError):
    """An environment variable has a value the process cannot use."""


def text(env: Env, name: str, default: str = "") -> str:
    """The variable without surrounding blanks; ``default`` when unset or blank."""
    return env.get(name, "").strip() or default


def number(env: Env, name: str, default: float, minimum: float = 0.0) -> float:
    """A decimal number of at least ``minimum``."""
    raw = text(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def whole(env: Env, name: str, default: int, minimum: Optional[int] = None) -> int:
    """A whole number (of at least ``minimum`` when given). Also written as a
    whole decimal (``300.0``, ``1e3``), as the bridge has always taken it."""
    raw = text(env, name)
    if not raw:
        return default
    value = _whole(name, raw)
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc
    if not value.is_integer():
        raise SettingsError(f"{name} must be a whole number, not {raw!r}")
    return int(value)


def port(env: Env, name: str, default: int, lowest: int = 1) -> int:
    """A TCP port from ``lowest`` (0: any free port, where the process allows
    it) to 65535."""
    value = whole(env, name, default)
    if not lowest <= value <= 65535:
        raise SettingsError(f"{name} must be a port number ({lowest}-65535), not {value}")
    return value


def choice(env: Env, name: str, default: str, allowed: Tuple[str, ...]) -> str:
    """One of ``allowed``, in any case."""
    value = text(env, name, default).lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def random_secret() -> str:
    """A secret for this run only, for a variable left unset."""
    return secrets.token_urlsafe(32)


def log_level(env: Env) -> str:
    """LOG_LEVEL, upper case (every process)."""
    return text(env, "LOG_LEVEL", "INFO").upper()


def database_url(env: Env) -> Optional[str]:
    """DATABASE_URL; None when unset (each process then falls back to
    ``core.store.default_database_url``)."""
    return text(env, "DATABASE_URL") or None


def bridge_secret(env: Env) -> str:
    """RASA_BRIDGE_SECRET, the key of Rasa's bridge channel; "" when unset
    (the launcher then makes one per run and hands it to Rasa and the bridge)."""
    return text(env, "RASA_BRIDGE_SECRET")


def actions_port(env: Env) -> Optional[int]:
    """ACTIONS_PORT; None when unset (the launcher then uses 5055, the bridge
    checks no action server)."""
    if not text(env, "ACTIONS_PORT"):
        return None
    return port(env, "ACTIONS_PORT", DEFAULT_ACTIONS_PORT)


def actions_url(port_number: int) -> str:
    """The action server on ``port_number``: it binds 127.0.0.1 only."""
    return f"http://127.0.0.1:{port_number}"


@dataclass(frozen=True)
class RasaAddress:
    """Where the Rasa server listens (RASA_HOST, RASA_PORT): the launcher binds
    it there, the bridge calls it there unless RASA_URL says otherwise."""

    host: str = "127.0.0.1"
    port: int = 5005

    @classmethod
    def from_env(cls, env: Env) -> "RasaAddress":
        return cls(host=text(env, "RASA_HOST", "127.0.0.1"), port=port(env, "RASA_PORT", 5005))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class BridgeAddress:
    """Where the bridge listens (HANDOFF_HOST, HANDOFF_PORT).

    ``lowest_port``: the bridge alone may bind port 0 (any free port); the
    launcher passes 1, because it must know the port to check ``/health`` and
    print the links."""

    host: str = "127.0.0.1"
    port: int = 8080

    @classmethod
    def from_env(cls, env: Env, lowest_port: int = 0) -> "BridgeAddress":
        return cls(host=text(env, "HANDOFF_HOST", "127.0.0.1"), port=port(env, "HANDOFF_PORT", 8080, lowest_port))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class RedisSettings:
    """The Redis server (REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD) that
    Rasa's lock store (RASA_LOCK_STORE=redis) and the bridges
    (HANDOFF_CLUSTER=redis) share. Read, and checked, even when neither uses
    it: a bad value stops the start rather than waiting to be needed."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    password: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Env) -> "RedisSettings":
        return cls(
            host=text(env, "REDIS_HOST", "127.0.0.1"),
            port=port(env, "REDIS_PORT", 6379),
            db=whole(env, "REDIS_DB", 0, minimum=0),
            password=env.get("REDIS_PASSWORD", ""),
        )

    def env(self) -> Dict[str, str]:
        """The variables again, for a child process (endpoints.yml reads them)."""
        return {"REDIS_HOST": self.host, "REDIS_PORT": str(self.port), "REDIS_DB": str(self.db),
                "REDIS_PASSWORD": self.password}
