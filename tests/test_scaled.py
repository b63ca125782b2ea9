"""``make run-scaled``'s pure parts (bot/scaled.py): the defaults it adds,
the bridge count, the origins and HAProxy's configuration (the running stack
behind HAProxy: tests/handoff/test_several_bridges.py)."""
from __future__ import annotations

import pytest

from bot.processes import StartupError
from bot.scaled import SCALED_DEFAULTS, bridge_count, haproxy_config, lb_origins, scaled_env


def test_the_scaled_defaults_fill_only_what_is_unset() -> None:
    env = scaled_env({"DATABASE_URL": "postgresql://postgres@db.example/shop", "SANIC_WORKERS": ""})
    assert env["DATABASE_URL"] == "postgresql://postgres@db.example/shop"
    assert env["SANIC_WORKERS"] == SCALED_DEFAULTS["SANIC_WORKERS"] == "2"
    assert env["RASA_TRACKER_STORE"] == "sql" and env["RASA_LOCK_STORE"] == "redis"


@pytest.mark.parametrize("raw, count", [("", 2), ("3", 3), ("1", 1)])
def test_the_bridge_count(raw: str, count: int) -> None:
    assert bridge_count({"HANDOFF_BRIDGES": raw}) == count


@pytest.mark.parametrize("raw", ["0", "dos", "17", "-1"])
def test_a_bad_bridge_count_stops_the_start_with_a_clear_error(raw: str) -> None:
    with pytest.raises(StartupError, match="HANDOFF_BRIDGES"):
        bridge_count({"HANDOFF_BRIDGES": raw})


def test_the_bridges_accept_the_load_balancer_s_origin() -> None:
    assert lb_origins({}, "127.0.0.1", 8080) == "http://127.0.0.1:8080,http://localhost:8080"
    assert lb_origins({"HANDOFF_ALLOWED_ORIGINS": "https://tienda.example"}, "0.0.0.0", 80) == "https://tienda.example"


def test_haproxy_checks_each_bridge_in_http_1_1_and_balances_by_connections() -> None:
    config = haproxy_config("127.0.0.1", 8080, [41001, 41002])
    assert "bind 127.0.0.1:8080" in config
    assert "server bridge-1 127.0.0.1:41001 check" in config and "server bridge-2 127.0.0.1:41002 check" in config
    assert "uri /health/live ver HTTP/1.1" in config  # websockets refuses HAProxy's default HTTP/1.0 check
    assert "balance leastconn" in config and "timeout tunnel" in config
