"""Starts the Rasa server with the API protected by JWT.

Why not ``rasa run`` on the command line: its ``--auth-token``/``--jwt-secret``
would sit in the process list; here the secret comes from the environment.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Text

from bot.settings import ROOT, Settings


def validate_action_results_once() -> None:
    """Make Rasa check each action-server answer with validators built once,
    each event against its own event type's schema.

    Why: Rasa 3.6's ``RemoteAction._validate_action_result`` calls
    ``jsonschema.validate``, which first re-checks the schema itself against
    the Draft 2020-12 meta-schema, on every custom-action call (43% of the
    server's CPU under load once; docs/benchmarks.md). Then every event was
    still tried against all 23 alternatives of the schema's ``oneOf`` (one
    per event type), a tenth of the CPU per turn, most of it on the session
    start's slots (py-spy). The alternatives differ by the ``const`` of
    ``event``, and an event's ``event`` must be a string, so an event matches
    exactly one alternative if and only if it matches the one named by its
    ``event``: the fast path checks the answer without the ``oneOf`` and each
    event against its own alternative. Anything the fast path does not accept
    goes to the full validator, which raises the same ``ValidationError`` as
    ``validate`` (``best_match``) with Rasa's hint appended.
    Limit: it replaces a Rasa method, so a Rasa upgrade must keep
    ``action_response_format_spec`` (tests/test_bot.py checks that invalid
    answers are still refused and valid ones accepted).
    """
    import copy

    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    by_event = _validators_by_event(schema, validator_class)
    outer = None
    if by_event is not None:
        without_one_of = copy.deepcopy(schema)
        del without_one_of["properties"]["events"]["items"]["oneOf"]
        outer = validator_class(without_one_of)

    def accepted_fast(result: Any) -> bool:
        if outer is None or by_event is None or not outer.is_valid(result):
            return False
        for event in result.get("events") or ():
            own = by_event.get(event.get("event"))
            if own is None or not own.is_valid(event):
                return False
        return True

    def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        if accepted_fast(result):
            return True
        error = best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response "
                f"from the Action endpoint is valid. For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    RemoteAction._validate_action_result = _validate_action_result


def _validators_by_event(schema: Dict[Text, Any], validator_class: Any) -> Optional[Dict[Text, Any]]:
    """One validator per event type (the item schema without its ``oneOf``,
    plus that type's alternative), or None when the schema is not the shape
    the fast path relies on (an object whose ``events`` items are a ``oneOf``
    of alternatives, each with its own ``const`` event name, and ``event`` a
    required string)."""
    try:
        items = schema["properties"]["events"]["items"]
        alternatives = items["oneOf"]
        if items["properties"]["event"] != {"type": "string"} or "event" not in items["required"]:
            return None
        base = {k: v for k, v in items.items() if k != "oneOf"}
        found: Dict[Text, Any] = {}
        for alternative in alternatives:
            name = alternative["properties"]["event"]["const"]
            if not isinstance(name, str) or name in found:
                return None
            found[name] = validator_class({"allOf": [base, alternative]})
        return found
    except (KeyError, TypeError):
        return None


def resolve_event_types_once() -> None:
    """Make Rasa find an event's class by its name in a table built once.

    Why: Rasa 3.6's ``Event.resolve_by_type`` walks every Event subclass
    (``inspect.isabstract`` on each) for every event it deserialises, and the
    in-memory tracker store deserialises the whole conversation on every
    message: about 10% of the server's CPU per turn, more the longer the
    conversation (py-spy, docs/benchmarks.md). The table keeps the first class
    of each name in the same order as the walk; a name it lacks (a subclass
    defined later, "topic", an unknown name) goes to Rasa's own lookup, so
    defaults and errors are unchanged. Limit: like the validator above, it
    replaces a Rasa method (tests/test_bot.py checks the results agree).
    """
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    table: Dict[Text, Any] = {}
    for cls in all_subclasses(Event):
        table.setdefault(cls.type_name, cls)
    original = Event.resolve_by_type

    def resolve_by_type(type_name: Text, default: Any = None) -> Any:
        found = table.get(type_name)
        return found if found is not None else original(type_name, default)

    Event.resolve_by_type = staticmethod(resolve_by_type)


def build_state_history_incrementally() -> None:
    """Make ``DialogueStateTracker.past_states`` continue each conversation's
    state history from the last call instead of replaying the whole session
    (``bot.past_states.StatesMemo``).

    Why: Rasa 3.6 replays every event of the session and recomputes the state
    before each action on every call, several calls per prediction: at turn
    100 of one conversation a quarter of the turn's CPU, the main reason a
    turn took 4-8x longer than at turn 1 (bench/turns.py, py-spy;
    docs/benchmarks.md). The memo runs Rasa's own steps, keyed on the
    identity of the applied events, and starts afresh on anything but
    appended events. Only plain ``DialogueStateTracker``s: training's
    ``TrackerWithCachedStates`` has its own cache and is left alone.
    Limit: callers may change only the last state of the list (Rasa 3.6's
    policies do no more); tests/test_turns.py checks every prediction of a
    long story against Rasa's own. Applied only with ``RASA_TURN_CACHE=on``.
    """
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.past_states import StatesMemo

    current = DialogueStateTracker.past_states
    if getattr(current, "_incremental", False):
        return
    memo = StatesMemo()

    def past_states(self: DialogueStateTracker, domain: Any, omit_unset_slots: bool = False,
                    ignore_rule_only_turns: bool = False, rule_only_data: Optional[Dict[Text, Any]] = None) -> Any:
        return memo.past_states(self, domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data)

    past_states._incremental = True  # type: ignore[attr-defined]
    past_states._memo = memo  # type: ignore[attr-defined]
    past_states._original = current  # type: ignore[attr-defined]
    DialogueStateTracker.past_states = past_states


def apply_patches(turn_cache: bool) -> None:
    """Every change this project makes to Rasa's code, in one place (the
    server and ``bot.rasa_cli`` call it)."""
    validate_action_results_once()
    resolve_event_types_once()
    start_sessions_with_the_policy()
    if turn_cache:
        build_state_history_incrementally()
        keep_applied_events()
        copy_trackers_without_replay()
        give_rule_policy_its_window()


def _on_plain_trackers(method: str, replacement: Callable[[Any], Any]) -> None:
    """Replace ``DialogueStateTracker.<method>`` (no argument but the tracker)
    with ``replacement`` for plain trackers only (subclasses, such as
    training's ``TrackerWithCachedStates``, keep Rasa's); once, however often
    called; Rasa's own stays reachable as ``._original`` (the tests compare)."""
    from rasa.shared.core.trackers import DialogueStateTracker

    current = getattr(DialogueStateTracker, method)
    if getattr(current, "_patched", False):
        return

    def patched(self: DialogueStateTracker) -> Any:
        if type(self) is not DialogueStateTracker:
            return current(self)
        return replacement(self)

    patched._patched = True  # type: ignore[attr-defined]
    patched._original = current  # type: ignore[attr-defined]
    setattr(DialogueStateTracker, method, patched)


def keep_applied_events() -> None:
    """Make ``DialogueStateTracker.applied_events`` continue from its last
    result on the same tracker (``bot.turn_costs.applied_events``).

    Why: Rasa 3.6 walks every event of the session twice per call, and a
    turn calls it a dozen times (the processor's session check, the policies,
    the state history's own check): at turn 100 the largest part of what
    still grew per turn (py-spy; docs/benchmarks.md). Limit: the memo is
    recomputed on anything but appended events (a dropped or replaced event,
    a new loop name); only plain ``DialogueStateTracker``s, training's
    ``TrackerWithCachedStates`` keeps Rasa's code. tests/test_turns.py checks
    it equals Rasa's at every step and a long conversation's actions.
    """
    from bot.turn_costs import applied_events

    _on_plain_trackers("applied_events", applied_events)


def copy_trackers_without_replay() -> None:
    """Make ``DialogueStateTracker.copy`` copy the state instead of
    replaying every event into a new tracker (``bot.turn_costs.copy_tracker``).

    Why: the processor copies the tracker before every action it runs (and a
    form before activating), a replay of the whole session each time (7% of
    a turn's CPU at turn 100 and growing, py-spy). Limit: the copy equals the
    replay only if the tracker's state is what its events make, as Rasa keeps
    it (changes go through ``update``); only plain ``DialogueStateTracker``s
    (training's ``TrackerWithCachedStates`` has its own ``copy``).
    tests/test_turns.py compares a copy with the replay and a long
    conversation's actions with Rasa's code.
    """
    from bot.turn_costs import copy_tracker

    _on_plain_trackers("copy", copy_tracker)


def give_rule_policy_its_window() -> None:
    """Give the RulePolicy only the last states its rules can reach
    (``bot.turn_costs.rule_window``: the longest key of its lookup, plus one).

    Why: on every call (two per prediction) the RulePolicy formats and deep
    copies the whole state list for a debug log, filters its rules over every
    state and builds a JSON key of the whole list: at turn 100 a tenth of the
    turn's CPU (py-spy). Matching never looks further back than the longest
    rule, and the key is only compared with keys shorter than the window, so
    the prediction is the same (the argument is in ``rule_window``). Limit:
    only for plain ``DialogueStateTracker``s (never in training, where the
    lookup is still being built); tests/test_turns.py checks a long
    conversation's actions against Rasa's code.
    """
    from rasa.core.policies.policy import Policy
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.turn_costs import rule_window

    if getattr(RulePolicy.__dict__.get("_prediction_states"), "_windowed", False):
        return
    names = ("rules", "rules_for_loop_unhappy_path", "rules_not_in_stories")

    def _prediction_states(self: RulePolicy, tracker: DialogueStateTracker, domain: Any,
                           use_text_for_last_user_input: bool = False,
                           rule_only_data: Optional[Dict[Text, Any]] = None) -> List[Any]:
        states = Policy._prediction_states(self, tracker, domain, use_text_for_last_user_input, rule_only_data)
        if type(tracker) is not DialogueStateTracker:
            return states
        key = (id(self.lookup),) + tuple(len(self.lookup.get(name) or ()) for name in names)
        cached = self.__dict__.get("_turn_window")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_turn_window"] = (key, rule_window(self.lookup))
        return states[-cached[1]:]

    _prediction_states._windowed = True  # type: ignore[attr-defined]
    RulePolicy._prediction_states = _prediction_states


def start_sessions_with_the_policy() -> None:
    """Make Rasa's own session start also put the store policy's values and
    brand voice into slots (``StorePolicy.answer_slots``, the same function
    the action server used).

    Why: a custom ``action_session_start`` cost every conversation's first
    message an action-server round trip, and its 30 events were the largest
    answer Rasa validated. core/ imports no Rasa SDK, so the Rasa process
    reads the policy itself. The slots come after ``SessionStarted`` (and any
    slots Rasa carries over) and before the ``action_listen`` that ends the
    session start, as the custom action put them.
    Limit: it wraps a Rasa method (tests/test_bot.py runs it on a tracker).
    """
    from rasa.core.actions.action import ActionSessionStart
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted, SlotSet

    from core.policy import load_policy

    original = ActionSessionStart.run
    if getattr(original, "_with_policy", False):
        return

    async def run(self: ActionSessionStart, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> List[Any]:
        events = list(await original(self, output_channel, nlg, tracker, domain))
        slots = [SlotSet(name, value) for name, value in load_policy().answer_slots().items()]
        last = events[-1] if events else None
        if isinstance(last, ActionExecuted) and last.action_name == ACTION_LISTEN_NAME:
            return events[:-1] + slots + [last]
        return events + slots

    run._with_policy = True  # type: ignore[attr-defined]
    ActionSessionStart.run = run


def main() -> None:
    from bot.library_noise import honour_warning_options

    honour_warning_options()  # before Rasa imports Sanic's users
    from rasa.core.run import serve_application
    from rasa.core.utils import AvailableEndpoints

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    # As `rasa run` does: without it structlog prints Rasa's debug events,
    # slot values (emails, order numbers) included, at every level.
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.getLevelName(settings.log_level))
    apply_patches(settings.rasa_stores.turn_cache)
    serve_application(
        model_path=str(settings.model_path),
        interface=settings.rasa_host,
        port=settings.rasa_port,
        credentials=str(ROOT / "credentials.yml"),
        endpoints=AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml")),
        enable_api=True,
        jwt_secret=settings.rasa_jwt_secret,
        jwt_method="HS256",
    )


if __name__ == "__main__":
    main()
