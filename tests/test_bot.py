"""Start-up settings and the train-only-when-changed rule."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError
from bot.train import inputs_hash, training_inputs


def test_defaults_work_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings.rasa_url == "http://127.0.0.1:5005"
    assert settings.actions_url == "http://127.0.0.1:5055"
    assert settings.rasa_jwt_secret_generated and len(settings.rasa_jwt_secret) >= 32
    assert Settings.from_env({}).rasa_jwt_secret != settings.rasa_jwt_secret


def test_children_get_ports_and_secret_by_environment() -> None:
    settings = Settings.from_env({"RASA_PORT": "6001", "ACTIONS_PORT": "6002", "RASA_JWT_SECRET": "s3cret"})
    env = settings.child_env({})
    assert env["RASA_PORT"] == "6001" and env["ACTIONS_PORT"] == "6002"
    assert env["ACTION_ENDPOINT_URL"] == "http://127.0.0.1:6002/webhook"
    assert env["RASA_JWT_SECRET"] == "s3cret" and not settings.rasa_jwt_secret_generated
    assert Settings.from_env(env) == Settings.from_env(env)


@pytest.mark.parametrize("name, value", [("RASA_PORT", "cinco"), ("ACTIONS_PORT", "70000")])
def test_bad_values_are_refused_with_the_variable_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_training_hash_follows_content_not_file_times(tmp_path: Path) -> None:
    for rel in ("config.yml", "domain.yml", "bot/nlu.py", "bot/policies.py", "data/nlu/a.yml", "data/rules/r.yml",
                "data/stories/s.yml"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {rel}\n")
    files = training_inputs(tmp_path)
    assert len(files) == 7
    before = inputs_hash(files, tmp_path)
    (tmp_path / "data/nlu/a.yml").touch()
    assert inputs_hash(files, tmp_path) == before
    (tmp_path / "data/nlu/a.yml").write_text("# changed\n")
    assert inputs_hash(files, tmp_path) != before


def test_a_change_to_our_trained_components_retrains(tmp_path: Path) -> None:
    """The classifier's code decides what is fitted (its lookup placeholders):
    an edit to it must not leave an older model in place."""
    for rel in ("config.yml", "domain.yml", "bot/nlu.py", "bot/policies.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"# {rel}\n")
    files = training_inputs(tmp_path)
    before = inputs_hash(files, tmp_path)
    (tmp_path / "bot/nlu.py").write_text("# a new feature\n")
    assert inputs_hash(files, tmp_path) != before


def test_action_results_are_still_validated_after_the_speed_up() -> None:
    """bot.rasa_server replaces Rasa's per-call schema check; answers that do
    not match the schema must still be refused."""
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    from bot.rasa_server import validate_action_results_once

    validate_action_results_once()
    action = RemoteAction("action_x", None)
    assert action._validate_action_result(
        {"events": [{"event": "slot", "name": "email", "value": "a@b.es"}], "responses": [{"text": "hola"}]})
    for bad in ({"events": [{"event": "no_such_event"}]}, {"responses": "hola"}, {"events": "x"}):
        with pytest.raises(ValidationError) as error:
            action._validate_action_result(bad)
        assert "Failed to validate Action server response" in error.value.message


def test_event_types_resolve_as_before_after_the_speed_up() -> None:
    """bot.rasa_server replaces Rasa's walk over every Event subclass with a
    table: every name gives the class the walk gave, and the rest (defaults,
    unknown names) behave as Rasa's own lookup."""
    from rasa.shared.core.events import Event, UserUttered
    from rasa.shared.utils.common import all_subclasses

    from bot.rasa_server import resolve_event_types_once

    names = sorted({cls.type_name for cls in all_subclasses(Event)})
    before = {name: Event.resolve_by_type(name) for name in names}
    resolve_event_types_once()
    assert {name: Event.resolve_by_type(name) for name in names} == before
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")
    slot = Event.from_parameters({"event": "slot", "name": "email", "value": "a@b.es"})
    assert type(slot).__name__ == "SlotSet" and slot.value == "a@b.es"
