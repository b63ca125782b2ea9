"""Start-up settings and the train-only-when-changed rule."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

import pytest

from bot.settings import ROOT, Settings, SettingsError
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


def test_rasa_stores_default_to_memory_and_reach_endpoints_yml_by_environment() -> None:
    env = Settings.from_env({}).child_env({})
    assert env["RASA_TRACKER_STORE_TYPE"] == "bot.tracker_store.CachedInMemoryTrackerStore"
    assert Settings.from_env({"RASA_TURN_CACHE": "off"}).child_env({})["RASA_TRACKER_STORE_TYPE"] == (
        "rasa.core.tracker_store.InMemoryTrackerStore")
    assert env["RASA_LOCK_STORE_TYPE"] == "in_memory" and env["SANIC_WORKERS"] == "1"
    scaled = Settings.from_env({"RASA_TRACKER_STORE": "sql", "RASA_LOCK_STORE": "redis", "SANIC_WORKERS": "2",
                                "RASA_TRACKER_DB_PASSWORD": "pw"})
    env = scaled.child_env({})
    assert (env["RASA_TRACKER_STORE_TYPE"], env["RASA_LOCK_STORE_TYPE"], env["SANIC_WORKERS"]) == (
        "bot.tracker_store.CachedSQLTrackerStore", "bot.lock_store.AtomicRedisLockStore", "2")
    assert "pw" not in repr(scaled)  # the password only by environment, never printed
    # every variable endpoints.yml names is set for the children
    named = set(re.findall(r"\$\{(\w+)\}", (ROOT / "endpoints.yml").read_text()))
    assert named <= set(env), named - set(env)


@pytest.mark.parametrize("env", [{"SANIC_WORKERS": "2"}, {"SANIC_WORKERS": "2", "RASA_LOCK_STORE": "redis"},
                                 {"RASA_TRACKER_STORE": "mongo"}, {"RASA_LOCK_STORE": "etcd"}, {"SANIC_WORKERS": "0"}])
def test_rasa_store_settings_that_cannot_work_are_refused(env: Dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)


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


ACTION_ANSWERS = [
    {"events": [], "responses": []},
    {"events": [{"event": "session_started"}, {"event": "slot", "name": "voice", "value": "tu"},
                {"event": "slot", "name": "n", "value": 3, "timestamp": None},
                {"event": "action", "name": "action_listen", "policy": None, "confidence": None}]},
    {"events": [{"event": "active_loop", "name": "return_form"}, {"event": "followup", "name": "utter_x"},
                {"event": "bot", "text": "hola", "data": {"buttons": []}, "metadata": {}}],
     "responses": [{"response": "utter_greet", "voice": "usted"}]},
    {"events": [{"event": "user", "text": "hola", "parse_data": {"intent": {"name": "greet", "confidence": 1.0},
                                                               "entities": []}}]},
    {"events": [{"event": "entities", "entities": [{"entity": "email", "value": "a@b.es", "start": 0, "end": 6}]}]},
    # refused by the schema:
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot", "name": "email"}]},                 # a slot without its value
    {"events": [{"name": "email", "value": 1}]},                      # no event name
    {"events": [{"event": 7}]},
    {"events": [{"event": "slot", "name": 3, "value": 1}]},
    {"events": [{"event": "entities", "entities": "x"}]},
    {"events": [{"event": "action", "hide_rule_turn": "yes"}]},
    {"events": [{"event": "bot", "timestamp": "now"}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"entity": "x"}]}}]},
    {"events": ["slot"]},
    {"events": "x"},
    {"responses": "hola"},
    "not an object",
]


@pytest.mark.parametrize("answer", ACTION_ANSWERS)
def test_the_fast_action_answer_check_agrees_with_the_schema(answer: object) -> None:
    """The per-event-type fast path accepts exactly what jsonschema.validate
    accepts on Rasa's own schema, and refuses with the same message."""
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    from bot.rasa_server import validate_action_results_once

    schema = RemoteAction.action_response_format_spec()
    try:
        jsonschema.validate(answer, schema)
        expected = None
    except jsonschema.ValidationError as error:
        expected = error.message
    validate_action_results_once()
    action = RemoteAction("action_x", None)
    if expected is None:
        assert action._validate_action_result(answer) is True  # type: ignore[arg-type]
    else:
        with pytest.raises(jsonschema.ValidationError) as refused:
            action._validate_action_result(answer)  # type: ignore[arg-type]
        assert refused.value.message.startswith(expected)


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


@pytest.mark.parametrize("voice", ["tu", "usted"])
def test_rasas_session_start_puts_the_policy_into_slots(monkeypatch: pytest.MonkeyPatch, voice: str) -> None:
    """Rasa's own action_session_start (no action-server call) starts every
    session with the policy's values and the store's voice, before the
    action_listen that ends it."""
    import asyncio

    from rasa.core.actions.action import ActionSessionStart
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.rasa_server import start_sessions_with_the_policy
    from bot.settings import ROOT
    from core.policy import load_policy

    monkeypatch.setenv("STORE_BRAND_VOICE", voice)
    load_policy.cache_clear()
    try:
        start_sessions_with_the_policy()
        start_sessions_with_the_policy()  # a second call must not add the slots twice
        domain = Domain.load(str(ROOT / "domain.yml"))
        assert "action_session_start" not in domain.user_actions  # Rasa's own runs, not the action server's
        tracker = DialogueStateTracker("s1", domain.slots)
        events = asyncio.run(ActionSessionStart().run(None, None, tracker, domain))  # type: ignore[arg-type]
        slots = {e.key: e.value for e in events if isinstance(e, SlotSet)}
        assert isinstance(events[0], SessionStarted)
        assert isinstance(events[-1], ActionExecuted) and events[-1].action_name == "action_listen"
        assert slots == load_policy().answer_slots()
        assert slots["brand_voice"] == voice
        assert len([e for e in events if isinstance(e, SlotSet)]) == len(slots)
    finally:
        load_policy.cache_clear()


def test_calls_to_an_endpoint_reuse_one_connection() -> None:
    """Rasa's EndpointConfig.request made a new session, so a new TCP
    connection, per action-server call (bot/rasa_server.py keep_http_connections)."""
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa_server import keep_http_connections

    keep_http_connections()
    peers: list = []

    sent = {"next_action": "x", "tracker": {"text": "¿envío a A/B?", "confidence": 0.1234567890123, "n": 2 ** 40}}

    async def answer(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        assert request.headers.get("Authorization") == "Bearer x"
        assert await request.json() == sent
        return web.json_response({"events": [], "responses": []})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/webhook", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"Authorization": "Bearer x"})
        try:
            for _ in range(3):
                assert await endpoint.request(json=sent, method="post") == {"events": [], "responses": []}
        finally:
            async with endpoint.session() as session:
                await session.close()
            await runner.cleanup()

    asyncio.run(scenario())
    assert len(peers) == 3 and len(set(peers)) == 1, peers


def test_each_worker_freezes_its_heap_once_its_model_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full collections walked the ~800,000 objects of the loaded model
    (bot/rasa_server.py freeze_heap)."""
    import asyncio
    import gc

    import rasa.core.run

    from bot import rasa_server

    async def load(*args: object) -> str:
        return "agent"

    monkeypatch.setattr(rasa.core.run, "load_agent_on_start", load)
    rasa_server.freeze_heap_after_loading()
    assert rasa.core.run.load_agent_on_start is not load
    try:
        assert asyncio.run(rasa.core.run.load_agent_on_start("model", None, None, None, None)) == "agent"
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
