"""``python -m bot run-scaled`` (``make run-scaled``): the scaled stack on
this machine, as several machines would run it.

What starts, supervised like ``make run`` (bot/processes.py):
- the action server;
- Rasa with ``SANIC_WORKERS`` workers (2), trackers in PostgreSQL and locks
  in Redis (bot/settings.py ``RasaStores``);
- ``HANDOFF_BRIDGES`` bridges (2) on free local ports, ``HANDOFF_CLUSTER=redis``
  (handoff/cluster.py), all on one PostgreSQL database;
- HAProxy (Debian's package, ``make lb``) on ``HANDOFF_HOST:HANDOFF_PORT``
  (8080), so clients see one address as with ``make run``: WebSockets are
  balanced by least connections, each bridge is checked at ``/health/live``
  every second and taken out after two failures (its clients reconnect to
  another), and ``/health`` through it is a bridge's whole-stack health.

Defaults (each variable set in the environment wins): DATABASE_URL
``postgresql://postgres@127.0.0.1:5432/tienda`` (created and seeded if
missing; the password, if any, from PGPASSWORD, never in the URL),
RASA_TRACKER_STORE=sql, RASA_LOCK_STORE=redis, SANIC_WORKERS=2, REDIS_* as for
``make run``. Limits: one machine; HAProxy's own logs go to its log file.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Dict, List, Mapping

from bot.processes import Stack, StartupError, StopRequest, free_port, say, serve
from bot.settings import ROOT, Settings
from core.settings import SettingsError, text, whole

SCALED_DEFAULTS: Dict[str, str] = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/tienda",
    "RASA_TRACKER_STORE": "sql",
    "RASA_LOCK_STORE": "redis",
    "SANIC_WORKERS": "2",
}
HAPROXY_CANDIDATES = ("haproxy", "/usr/sbin/haproxy")


def scaled_env(env: Mapping[str, str]) -> Dict[str, str]:
    """``env`` with the scaled defaults where a variable is unset or empty."""
    merged = dict(env)
    for name, value in SCALED_DEFAULTS.items():
        if not merged.get(name, "").strip():
            merged[name] = value
    return merged


def bridge_count(env: Mapping[str, str]) -> int:
    """HANDOFF_BRIDGES (2), read as every variable is (core/settings.py)."""
    try:
        count = whole(env, "HANDOFF_BRIDGES", 2, minimum=1)
    except SettingsError as exc:
        raise StartupError(str(exc)) from exc
    if count > 16:
        raise StartupError(f"HANDOFF_BRIDGES must be at most 16, not {count}")
    return count


def lb_origins(env: Mapping[str, str], host: str, port: int) -> str:
    """The origins every bridge accepts: HANDOFF_ALLOWED_ORIGINS, else the
    load balancer's own address (a bridge's default names its own port)."""
    return text(env, "HANDOFF_ALLOWED_ORIGINS") or f"http://{host}:{port},http://localhost:{port}"


def find_haproxy() -> str:
    for candidate in HAPROXY_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise StartupError("HAProxy not found: install Debian's package with `make lb` (needs root)")


def haproxy_config(host: str, port: int, bridges: List[int]) -> str:
    """HAProxy in front of the bridges: HTTP mode (it passes WebSocket
    upgrades through as tunnels), least connections, a failed connection
    retried on another bridge, one-second checks of ``/health/live`` (in
    HTTP/1.1: the bridge's websockets server refuses HTTP/1.0, HAProxy's
    default check)."""
    servers = "\n".join(f"    server bridge-{n} 127.0.0.1:{p} check" for n, p in enumerate(bridges, 1))
    return f"""global
    maxconn 9000  # about two descriptors per connection: within a 20,000 limit

defaults
    mode http
    timeout connect 5s
    timeout client 65s
    timeout server 65s
    timeout tunnel 1h
    timeout http-request 10s
    retries 3
    option redispatch 1

frontend tienda
    bind {host}:{port}
    option forwardfor
    default_backend bridges

backend bridges
    balance leastconn
    option httpchk
    http-check send meth GET uri /health/live ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""


def prepare_database(env: Mapping[str, str]) -> None:
    """Create the PostgreSQL database if missing, migrate it and seed the demo store."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = make_url(env["DATABASE_URL"])
    if url.get_backend_name() == "postgresql" and url.database:
        engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                               connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                      {"name": url.database}).first()
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{url.database}"'))
                    say(f"base de datos {url.database} creada")
        except SQLAlchemyError as exc:
            raise StartupError(f"PostgreSQL at {url.host}:{url.port or 5432} did not answer: "
                               f"{type(exc).__name__}") from exc
        finally:
            engine.dispose()
    for module in ("migrations", "core.store.seed"):
        done = subprocess.run([sys.executable, "-m", module], cwd=str(ROOT), env=dict(env), timeout=300)
        if done.returncode != 0:
            raise StartupError(f"python -m {module} failed (exit {done.returncode})")


def run_scaled(settings: Settings, env: Mapping[str, str], stop: StopRequest) -> int:
    stack = Stack(settings)
    ports: List[int] = []

    def start() -> bool:
        haproxy = find_haproxy()
        bridges = bridge_count(env)
        prepare_database(env)
        if stop.requested:
            return False
        print(f"Arrancando el servidor de acciones, Rasa ({settings.rasa_stores.workers} workers), "
              f"{bridges} puentes y HAProxy (puede tardar un minuto)...", flush=True)
        stack.start_actions()
        stack.start_rasa()
        ports.extend(free_port() for _ in range(bridges))
        origins = lb_origins(env, settings.handoff_host, settings.handoff_port)
        for n, port in enumerate(ports, 1):
            stack.start_bridge(f"bridge-{n}", port, {"HANDOFF_CLUSTER": "redis", "HANDOFF_BRIDGE_ID": f"bridge-{n}",
                                                     "HANDOFF_ALLOWED_ORIGINS": origins})
        # HAProxy only once the bridges answer: started beside them, its first
        # checks marked each one DOWN and printed an alert per bridge.
        if not stack.wait_ready(stop=stop):
            return False
        config = ROOT / "var" / "haproxy.cfg"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(haproxy_config(settings.handoff_host, settings.handoff_port, ports), encoding="utf-8")
        stack.start_program("lb", haproxy, ["-db", "-f", str(config)], f"{settings.handoff_url}/health")
        return True

    def ready_text() -> str:
        from core.store.sql import mask_url  # SQLAlchemy: not at ``python -m bot``'s import

        return ("\nListo (escalado).\n"
                f"  Tienda de demostración con el chat:  {settings.handoff_url}/\n"
                f"  Consola de agentes:                  {settings.handoff_url}/agent\n"
                f"  Puentes detrás de HAProxy:           {', '.join(f'127.0.0.1:{p}' for p in ports)}\n"
                "  Crear un agente (imprime su token):  "
                f"DATABASE_URL={mask_url(env['DATABASE_URL'])} make agent NAME=Marta\n"
                "Ctrl-C lo detiene todo.")

    return serve(stack, stop, start, ready_text)


