"""The one settings parser (core/settings.py): a variable both the launcher
(bot/settings.py) and the bridge (handoff/settings.py) read gets one default
and one error message in both, and the README's configuration table lists
every variable either reads, once."""
from __future__ import annotations

import re
from typing import Dict, Iterator, Set

import pytest

import bot.settings
import handoff.settings
from bot.settings import ROOT, Settings
from core.settings import RedisSettings, SettingsError
from handoff.settings import HandoffSettings


class Recording(Dict[str, str]):
    """An environment that notes every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: Set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def variables_read() -> Set[str]:
    env = Recording()
    Settings.from_env(env)
    HandoffSettings.from_env(env)
    return env.asked


def readme_variables() -> Iterator[str]:
    """The names in the first column of the README's configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        if line.startswith("| `"):
            yield from re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])


def test_one_settings_error_from_every_old_path() -> None:
    assert bot.settings.SettingsError is SettingsError is handoff.settings.SettingsError


def test_the_readme_table_lists_every_variable_read_once() -> None:
    listed = list(readme_variables())
    assert len(listed) == len(set(listed)), sorted(n for n in listed if listed.count(n) > 1)
    assert variables_read() <= set(listed), sorted(variables_read() - set(listed))


@pytest.mark.parametrize("name", ["RASA_PORT", "ACTIONS_PORT", "REDIS_PORT", "REDIS_DB"])
@pytest.mark.parametrize("value", ["cinco", "1.5", "-1"])
def test_a_shared_variable_is_refused_alike_by_the_launcher_and_the_bridge(name: str, value: str) -> None:
    messages = []
    for settings in (Settings, HandoffSettings):
        with pytest.raises(SettingsError, match=name) as caught:
            settings.from_env({name: value})
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_shared_variables_reach_both_processes_alike() -> None:
    env = {"RASA_HOST": " rasa ", "RASA_PORT": "6005", "HANDOFF_HOST": "0.0.0.0", "HANDOFF_PORT": "9090",
           "ACTIONS_PORT": "6055", "DATABASE_URL": " sqlite:///x.db ", "RASA_BRIDGE_SECRET": " k ", "LOG_LEVEL": "debug",
           "REDIS_HOST": "r", "REDIS_PORT": "6380", "REDIS_DB": "5", "REDIS_PASSWORD": "pw"}
    launcher, bridge = Settings.from_env(env), HandoffSettings.from_env(env)
    assert (launcher.rasa_url, launcher.handoff_url, launcher.actions_url) == (
        bridge.rasa_url, f"http://{bridge.host}:{bridge.port}", bridge.actions_url)
    assert launcher.database_url == bridge.database_url == "sqlite:///x.db"
    assert launcher.rasa_bridge_secret == bridge.rasa_bridge_secret == "k"
    assert launcher.log_level == bridge.log_level == "DEBUG"
    assert launcher.rasa_stores.redis == bridge.redis == RedisSettings("r", 6380, 5, "pw")
    assert "pw" not in repr(bridge.redis)


def test_what_only_one_process_allows_stays_its_own() -> None:
    # the bridge alone may bind any free port; the launcher must know its port
    assert HandoffSettings.from_env({"HANDOFF_PORT": "0"}).port == 0
    with pytest.raises(SettingsError, match=r"HANDOFF_PORT must be a port number \(1-65535\), not 0"):
        Settings.from_env({"HANDOFF_PORT": "0"})
    # the bridge reads RASA_PORT and ACTIONS_PORT only without RASA_URL / ACTIONS_URL
    bridge = HandoffSettings.from_env({"RASA_URL": "http://r:1/", "RASA_PORT": "x", "ACTIONS_URL": "http://a/",
                                       "ACTIONS_PORT": "x"})
    assert (bridge.rasa_url, bridge.actions_url) == ("http://r:1", "http://a")
    assert HandoffSettings.from_env({}).actions_url == "" and Settings.from_env({}).actions_port == 5055


@pytest.mark.parametrize("env, message", [
    ({"HANDOFF_RATE_LIMIT": "cinco"}, "HANDOFF_RATE_LIMIT must be a whole number, not 'cinco'"),
    ({"HANDOFF_RATE_LIMIT": "0"}, "HANDOFF_RATE_LIMIT must be at least 1, not 0"),
    ({"HANDOFF_RASA_TIMEOUT_S": "x"}, "HANDOFF_RASA_TIMEOUT_S must be a number, not 'x'"),
    ({"HANDOFF_RASA_TIMEOUT_S": "0.01"}, "HANDOFF_RASA_TIMEOUT_S must be at least 0.05, not 0.01"),
    ({"HANDOFF_CLUSTER": "etcd"}, "HANDOFF_CLUSTER must be one of local, redis, not 'etcd'"),
    ({"TELEGRAM_WEBHOOK_PORT": "70000"}, r"TELEGRAM_WEBHOOK_PORT must be a port number \(0-65535\), not 70000"),
])
def test_bad_bridge_values_are_refused_with_the_variable_and_the_value(env: Dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        HandoffSettings.from_env(env)


def test_whole_numbers_may_be_written_as_whole_decimals() -> None:
    # as the bridge always took them (HANDOFF_MAX_ATTACHMENT_BYTES=1e7)
    assert HandoffSettings.from_env({"HANDOFF_MAX_ATTACHMENT_BYTES": "1e7"}).max_attachment_bytes == 10_000_000
    assert Settings.from_env({"RASA_PORT": "6005.0"}).rasa_port == 6005
