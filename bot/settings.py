"""The launcher's settings (``python -m bot``: Rasa, the action server, the
bridge), from environment variables with working defaults.

The variables are read with core/settings.py's readers, and the ones the
bridge reads too through its shared pieces, so each has one default and one
error message; ``SettingsError`` is core's, importable from here as before.
Every variable is listed in the README's configuration table. Secrets
(RASA_JWT_SECRET, RASA_BRIDGE_SECRET, ACTION_SERVER_TOKEN, DATABASE_URL
passwords, TELEGRAM_BOT_TOKEN) come only from the environment and are never
printed or logged; the first three get a random value per run when unset,
handed to the children by environment only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional

from core.settings import (
    DEFAULT_ACTIONS_PORT,
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
    port,
    random_secret,
    text,
    whole,
)

__all__ = ["ROOT", "LOCK_STORE_TYPES", "TRACKER_STORE_TYPES", "RasaStores", "Settings", "SettingsError"]

ROOT = Path(__file__).resolve().parent.parent


# Rasa's names for where it keeps conversations and their locks (endpoints.yml).
TRACKER_STORE_TYPES = {"memory": "rasa.core.tracker_store.InMemoryTrackerStore", "sql": "sql"}
# The same stores keeping the last saved tracker of each conversation in the
# process (bot/tracker_store.py), used unless RASA_TURN_CACHE=off.
CACHED_TRACKER_STORE_TYPES = {"memory": "bot.tracker_store.CachedInMemoryTrackerStore",
                              "sql": "bot.tracker_store.CachedSQLTrackerStore"}
LOCK_STORE_TYPES = {"memory": "in_memory", "redis": "bot.lock_store.AtomicRedisLockStore"}


@dataclass(frozen=True)
class RasaStores:
    """Where Rasa keeps conversations (tracker store) and each conversation's
    lock (lock store), read by endpoints.yml through the variables
    ``child_env`` sets.

    Embedded default: both in Rasa's memory, one Rasa process (``make run``).
    Scaled: trackers in PostgreSQL (Rasa's SQL tracker store; it creates the
    database through ``login_db`` if missing) and locks in Redis (Rasa's
    RedisLockStore), so several Rasa workers (``SANIC_WORKERS``) or
    processes serve any conversation, one message at a time.
    Limit: more than one worker needs both shared stores (refused otherwise:
    each worker would keep conversations of its own).
    """

    tracker_store: str = "memory"
    tracker_db_host: str = "127.0.0.1"
    tracker_db_port: int = 5432
    tracker_db: str = "rasa_trackers"
    tracker_db_user: str = "postgres"
    tracker_db_password: str = field(default="", repr=False)
    tracker_login_db: str = "postgres"
    lock_store: str = "memory"
    redis: RedisSettings = field(default_factory=RedisSettings)
    lock_key_prefix: str = "tienda"
    workers: int = 1
    # Long conversations as fast as short ones (bot/tracker_store.py and
    # bot/rasa_server.py ``keep_turns_short``); off: Rasa's own code, to compare.
    turn_cache: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "RasaStores":
        stores = cls(
            tracker_store=choice(env, "RASA_TRACKER_STORE", "memory", tuple(TRACKER_STORE_TYPES)),
            tracker_db_host=text(env, "RASA_TRACKER_DB_HOST", "127.0.0.1"),
            tracker_db_port=port(env, "RASA_TRACKER_DB_PORT", 5432),
            tracker_db=text(env, "RASA_TRACKER_DB", "rasa_trackers"),
            tracker_db_user=text(env, "RASA_TRACKER_DB_USER", "postgres"),
            tracker_db_password=env.get("RASA_TRACKER_DB_PASSWORD", ""),
            tracker_login_db=text(env, "RASA_TRACKER_LOGIN_DB", "postgres"),
            lock_store=choice(env, "RASA_LOCK_STORE", "memory", tuple(LOCK_STORE_TYPES)),
            redis=RedisSettings.from_env(env),
            lock_key_prefix=text(env, "RASA_LOCK_KEY_PREFIX", "tienda"),
            workers=whole(env, "SANIC_WORKERS", 1, minimum=1),
            turn_cache=choice(env, "RASA_TURN_CACHE", "on", ("on", "off")) == "on",
        )
        if stores.workers > 1 and (stores.tracker_store == "memory" or stores.lock_store == "memory"):
            raise SettingsError("SANIC_WORKERS above 1 needs RASA_TRACKER_STORE=sql and RASA_LOCK_STORE=redis "
                                "(each worker would otherwise keep conversations and locks of its own)")
        return stores

    def env(self) -> Dict[str, str]:
        """The variables endpoints.yml reads (and Rasa's own SANIC_WORKERS)."""
        return {
            "RASA_TRACKER_STORE": self.tracker_store,
            "RASA_LOCK_STORE": self.lock_store,
            "RASA_TRACKER_STORE_TYPE": (CACHED_TRACKER_STORE_TYPES if self.turn_cache
                                        else TRACKER_STORE_TYPES)[self.tracker_store],
            "RASA_TURN_CACHE": "on" if self.turn_cache else "off",
            "RASA_TRACKER_DB_HOST": self.tracker_db_host,
            "RASA_TRACKER_DB_PORT": str(self.tracker_db_port),
            "RASA_TRACKER_DB": self.tracker_db,
            "RASA_TRACKER_DB_USER": self.tracker_db_user,
            "RASA_TRACKER_DB_PASSWORD": self.tracker_db_password,
            "RASA_TRACKER_LOGIN_DB": self.tracker_login_db,
            "RASA_LOCK_STORE_TYPE": LOCK_STORE_TYPES[self.lock_store],
            **self.redis.env(),
            "RASA_LOCK_KEY_PREFIX": self.lock_key_prefix,
            "SANIC_WORKERS": str(self.workers),
        }


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
    rasa_bridge_secret: str = field(default_factory=random_secret, repr=False)
    action_server_token: str = field(default_factory=random_secret, repr=False)
    rasa_stores: RasaStores = field(default_factory=RasaStores)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        secret = text(env, "RASA_JWT_SECRET")
        rasa = RasaAddress.from_env(env)
        bridge = BridgeAddress.from_env(env, lowest_port=1)
        return cls(
            rasa_host=rasa.host,
            rasa_port=rasa.port,
            actions_port=actions_port(env) or DEFAULT_ACTIONS_PORT,
            model_path=Path(text(env, "RASA_MODEL") or ROOT / "models" / "assistant.tar.gz"),
            # Rasa's HTTP API is protected by JWT (HS256, Authorization header,
            # never a token in the URL). Without RASA_JWT_SECRET a random one is
            # made for this run and handed to the children by environment only.
            rasa_jwt_secret=secret or random_secret(),
            rasa_jwt_secret_generated=not secret,
            database_url=database_url(env),
            log_level=log_level(env),
            handoff_host=bridge.host,
            handoff_port=bridge.port,
            rasa_bridge_secret=bridge_secret(env) or random_secret(),
            action_server_token=text(env, "ACTION_SERVER_TOKEN") or random_secret(),
            rasa_stores=RasaStores.from_env(env),
        )

    @property
    def rasa_url(self) -> str:
        return RasaAddress(self.rasa_host, self.rasa_port).url

    @property
    def handoff_url(self) -> str:
        return BridgeAddress(self.handoff_host, self.handoff_port).url

    @property
    def actions_url(self) -> str:
        return actions_url(self.actions_port)

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
        env.update(self.rasa_stores.env())
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env
