"""Long conversations (issue 11, item 5): the incremental state history
(bot/past_states.py, applied by bot/rasa_server.py) and the caching tracker
stores (bot/tracker_store.py) give exactly Rasa's results, at a cost that no
longer grows with the conversation."""
from __future__ import annotations

import asyncio
import collections
import itertools
from typing import Any, Dict, List, Optional

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionReverted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.past_states import StatesMemo
from bot.settings import ROOT
from bot.tracker_store import CachedInMemoryTrackerStore, snapshot

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
MODEL = ROOT / "models" / "assistant.tar.gz"


def _user(intent: str, text: str, entities: Optional[List[Dict[str, Any]]] = None) -> UserUttered:
    return UserUttered(text, {"name": intent, "confidence": 1.0}, entities or [])


def _turn(i: int) -> List[Event]:
    """One shopper turn and the bot's answer; every fourth turn an apology
    that reverts itself, every fifth an order number with a slot."""
    events: List[Event] = [_user("faq" if i % 2 else "thank", f"mensaje {i}")]
    if i % 4 == 3:
        events += [ActionExecuted("action_acknowledge_frustration"), BotUttered("Perdona"), ActionReverted()]
    if i % 5 == 4:
        events += [SlotSet("order_id", f"{100000 + i}")]
    events += [ActionExecuted("utter_faq" if i % 2 else "utter_thank", hide_rule_turn=i % 3 == 0),
               BotUttered("respuesta"), ActionExecuted("action_listen")]
    return events


RULE_ONLY = {"slots": ["requested_slot"], "active_loops": ["order_status_form"]}


@pytest.mark.parametrize("omit, ignore, rule_only", [(False, False, None), (False, True, RULE_ONLY),
                                                      (True, True, None), (False, True, None)])
def test_the_incremental_history_equals_rasas_at_every_step(omit: bool, ignore: bool,
                                                            rule_only: Optional[Dict[str, Any]]) -> None:
    memo = StatesMemo()
    tracker = DialogueStateTracker("s1", DOMAIN.slots)
    tracker.update(ActionExecuted("action_listen"))
    for i in range(40):
        for event in _turn(i):
            tracker.update(event)
            expected = DOMAIN.states_for_tracker_history(tracker, omit, ignore, rule_only)
            assert memo.past_states(tracker, DOMAIN, omit, ignore, rule_only) == expected
            # a caller may change the last state (Rasa's featurizer does): nothing kept changes
            got = memo.past_states(tracker, DOMAIN, omit, ignore, rule_only)
            got[-1].clear()
            assert memo.past_states(tracker, DOMAIN, omit, ignore, rule_only) == expected
    # started afresh only after each apology's revert (10 of them) and the first call
    assert memo.replays == 11


def test_the_work_per_call_does_not_grow_with_the_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails with Rasa's own ``past_states``: it computes a state per action
    of the whole session on every call."""
    from bot.rasa_server import build_state_history_incrementally

    build_state_history_incrementally()
    calls = itertools.count()
    original = Domain.get_active_state

    def counted(self: Domain, *args: Any, **kwargs: Any) -> Any:
        next(calls)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Domain, "get_active_state", counted)
    tracker = DialogueStateTracker("s2", DOMAIN.slots)
    per_turn = []
    for i in range(60):
        for event in _turn(i * 2):  # no reverts: the conversation only grows
            tracker.update(event)
        before = next(calls)
        tracker.past_states(DOMAIN)
        per_turn.append(next(calls) - before - 1)
    assert max(per_turn[5:]) <= 4, per_turn


def test_a_cached_tracker_is_a_copy_that_shares_the_events() -> None:
    tracker = DialogueStateTracker.from_events("s3", _turn(1) + _turn(4), DOMAIN.slots)
    copied = snapshot(tracker)
    assert copied.current_state() == tracker.current_state()
    copied.update(SlotSet("order_id", "999999"))
    copied.update(_user("greet", "hola"))
    assert tracker.get_slot("order_id") == "100004" and len(tracker.events) == len(copied.events) - 2
    assert all(a is b for a, b in zip(tracker.events, copied.events))

    store = CachedInMemoryTrackerStore(DOMAIN)
    asyncio.run(store.save(tracker))
    again = asyncio.run(store.retrieve("s3"))
    assert again is not None and again is not tracker
    assert again.current_state() == tracker.current_state()
    assert list(asyncio.run(store.keys())) == ["s3"]


SHOPPER = ["hola", "¿el envío es gratis?", "gracias", "¿cuántos días tengo para devolver?", "vale, gracias",
           "¿tienen teléfono?", "genial, gracias", "¿cuánto tarda en llegar?", "perfecto, gracias",
           "¿aceptan tarjeta?", "muchas gracias", "adiós"]


def _rasas_own() -> Dict[str, Any]:
    """Rasa's own methods that ``apply_patches`` replaces (turn cache on)."""
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.engine.runner.dask import DaskGraphRunner

    return {"graph_run": getattr(DaskGraphRunner.run, "_original", DaskGraphRunner.run),
            "past_states": getattr(DialogueStateTracker.past_states, "_original", DialogueStateTracker.past_states),
            "applied_events": getattr(DialogueStateTracker.applied_events, "_original",
                                      DialogueStateTracker.applied_events),
            "copy": getattr(DialogueStateTracker.copy, "_original", DialogueStateTracker.copy),
            "rule_states": RulePolicy.__dict__.get("_prediction_states")}


def _conversation(patched: bool, turns: int, shopper: List[str] = SHOPPER,
                  window: Optional[List[int]] = None) -> List[List[str]]:
    """The actions the trained model takes after each message of a long
    conversation, in process, with or without the project's turn cache
    (``window``: the most states the RulePolicy's matching was given)."""
    from rasa.core.agent import Agent
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.engine.runner.dask import DaskGraphRunner

    from bot import rasa_server

    rasa_server.apply_patches(True)
    kept = {"graph_run": DaskGraphRunner.run,
            "past_states": DialogueStateTracker.past_states, "applied_events": DialogueStateTracker.applied_events,
            "copy": DialogueStateTracker.copy, "rule_states": RulePolicy.__dict__.get("_prediction_states")}
    own = _rasas_own()
    original_keys = RulePolicy._get_possible_keys

    def possible_keys(self: RulePolicy, lookup: Dict[str, str], states: List[Any]) -> Any:
        if window is not None:
            window.append(len(states))
        return original_keys(self, lookup, states)

    def use(methods: Dict[str, Any]) -> None:
        DaskGraphRunner.run = methods["graph_run"]  # type: ignore[method-assign]
        DialogueStateTracker.past_states = methods["past_states"]  # type: ignore[method-assign]
        DialogueStateTracker.applied_events = methods["applied_events"]  # type: ignore[method-assign]
        DialogueStateTracker.copy = methods["copy"]  # type: ignore[method-assign]
        if methods["rule_states"] is None:
            if "_prediction_states" in RulePolicy.__dict__:
                del RulePolicy._prediction_states
        else:
            RulePolicy._prediction_states = methods["rule_states"]  # type: ignore[method-assign]

    use(kept if patched else own)
    RulePolicy._get_possible_keys = possible_keys  # type: ignore[method-assign]
    try:
        agent = Agent.load(str(MODEL))
        store_class = CachedInMemoryTrackerStore if patched else InMemoryTrackerStore
        agent.tracker_store = agent.processor.tracker_store = store_class(agent.domain)  # type: ignore[union-attr]

        async def talk() -> List[List[str]]:
            actions: List[List[str]] = []
            seen = 0
            for text in itertools.islice(itertools.cycle(shopper), turns):
                await agent.handle_text(text, sender_id="largo")
                tracker = await agent.tracker_store.retrieve("largo")
                events = list(tracker.events)
                actions.append([e.action_name for e in events[seen:] if isinstance(e, ActionExecuted)])
                seen = len(events)
            return actions

        return asyncio.run(talk())
    finally:
        RulePolicy._get_possible_keys = original_keys  # type: ignore[method-assign]
        use(kept)


@pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model (make train)")
def test_a_long_conversation_gets_the_same_actions_as_with_rasas_own_code() -> None:
    turns = 90
    window: List[int] = []
    patched = _conversation(True, turns, window=window)
    assert patched == _conversation(False, turns)
    assert all(actions and actions[-1] == "action_listen" for actions in patched)
    # the RulePolicy matched on its window only (Rasa's own code: every state of the session)
    assert window and max(window) <= 3, max(window)


# Frustrated and off-topic turns too: apologies that revert themselves, fallbacks, a person asked for.
MIXED = ["hola", "¿dónde está mi pedido?", "no lo sé", "¿el envío es gratis?", "¡¡¡esto es una vergüenza!!!",
         "gracias", "¿aceptan bizum?", "asdf qwer", "vale", "¿tienen teléfono?", "¿cuánto tarda en llegar?",
         "perfecto, gracias"]


@pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model (make train)")
def test_a_mixed_long_conversation_gets_the_same_actions_as_with_rasas_own_code() -> None:
    turns = 60
    assert _conversation(True, turns, MIXED) == _conversation(False, turns, MIXED)


def _loop_turn(i: int) -> List[Event]:
    """A form asked for, filled over two messages (or left by a revert), around FAQ turns."""
    from rasa.shared.core.events import ActiveLoop, UserUtteranceReverted

    events = _turn(i)
    if i % 3 == 0:
        events += [_user("order_status", "mi pedido"), ActionExecuted("order_status_form"),
                   ActiveLoop("order_status_form"), SlotSet("requested_slot", "order_id"),
                   ActionExecuted("action_listen"), _user("inform", "123456"), ActionExecuted("order_status_form")]
        if i % 2:
            events += [UserUtteranceReverted()]
        events += [SlotSet("order_id", "123456"), ActiveLoop(None), SlotSet("requested_slot", None),
                   ActionExecuted("action_listen")]
    return events


class _CountingEvents(collections.deque):  # type: ignore[type-arg]
    """The tracker's events, counting the events walked from the start."""

    walked = 0

    def __iter__(self) -> Any:
        for event in super().__iter__():
            _CountingEvents.walked += 1
            yield event


def test_applied_events_equal_rasas_at_every_step_and_do_not_walk_the_session() -> None:
    """Fails with Rasa's own ``applied_events``: it walks every event twice per call."""
    from bot.rasa_server import keep_applied_events

    keep_applied_events()
    own = DialogueStateTracker.applied_events._original  # type: ignore[attr-defined]
    tracker = DialogueStateTracker("s4", DOMAIN.slots)
    copied = None
    for i in range(40):
        for event in _loop_turn(i):
            tracker.update(event)
            assert tracker.applied_events() == own(tracker)
        if i == 20:  # a copy continues on its own; the original is unchanged by it
            copied = snapshot(tracker)
            copied.update(_user("greet", "hola"))
            assert copied.applied_events() == own(copied)
            assert tracker.applied_events() == own(tracker)
    assert copied is not None and copied.applied_events() == own(copied)
    tracker.events = _CountingEvents(tracker.events)
    tracker.applied_events()
    _CountingEvents.walked = 0
    for event in _turn(100):
        tracker.update(event)
        tracker.applied_events()
    assert _CountingEvents.walked == 0
    assert tracker.applied_events() == own(tracker)


def test_a_copy_equals_rasas_replay_without_replaying(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails with Rasa's own ``copy``: it replays every event into a new tracker."""
    from bot.rasa_server import copy_trackers_without_replay

    copy_trackers_without_replay()
    tracker = DialogueStateTracker("s5", DOMAIN.slots)
    for i in range(30):
        for event in _loop_turn(i):
            tracker.update(event)
    replayed = DialogueStateTracker.copy._original(tracker)  # type: ignore[attr-defined]
    updates = itertools.count()
    original = DialogueStateTracker.update

    def counted(self: DialogueStateTracker, *args: Any, **kwargs: Any) -> Any:
        next(updates)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DialogueStateTracker, "update", counted)
    copied = tracker.copy()
    assert next(updates) == 0
    assert copied.current_state() == replayed.current_state() == tracker.current_state()
    assert copied.past_states(DOMAIN) == replayed.past_states(DOMAIN)
    copied.update(SlotSet("order_id", "999999"))
    assert tracker.get_slot("order_id") == replayed.get_slot("order_id") != "999999"
