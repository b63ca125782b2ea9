"""The dialogue's state history for the policies, built turn by turn instead
of from the start of the session at every prediction.

Rasa 3.6's ``DialogueStateTracker.past_states`` (``Domain.
states_for_tracker_history``) replays every event of the session into a fresh
tracker (``generate_all_prior_trackers``) and computes the state before each
action, on every call: the RulePolicy asks twice per prediction, the
MemoizationPolicy once, and a turn predicts two or three actions. At turn 100
that was about a quarter of the turn's CPU (py-spy; docs/benchmarks.md).

``StatesMemo`` keeps, per conversation, the replayed tracker and the states
already computed, and continues from there when the tracker's applied events
start with the same event objects (identity, not equality: the tracker
stores of bot/tracker_store.py hand back the same objects each turn).
Anything else (an event reverted, a restart, another conversation under the
same id, another domain) starts the replay afresh, as Rasa would. The
computation is Rasa's own, step by step, including the rule-only filtering
of ``ignore_rule_only_turns``; the states before the last event are shared
between calls, the last one is new each call (the featurizer changes it in
place: ``_choose_last_user_input``).

Limit: callers must not change the states except the last one (Rasa 3.6's
policies and featurizers only do that; tests/test_turns.py compares every
prediction of a long story with Rasa's own).
"""
from __future__ import annotations

import collections
import copy
import json
import operator
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker

MAX_CONVERSATIONS = 5000


@dataclass
class _Point:
    """What the state history needs of the tracker before one action."""

    hide_rule_turn: bool
    keeps_hidden: bool  # a follow-up action or the loop's own turn: hidden-ness unchanged
    prev_action: Any
    raw: Dict[bool, State]  # get_active_state per omit_unset_slots


@dataclass
class _Fold:
    """Rasa's loop over the points, up to ``done`` of them."""

    states: List[State] = field(default_factory=list)
    done: int = 0
    turn_was_hidden: bool = False
    last_ml_action_sub_state: Any = None


def _point(domain: Domain, tracker: DialogueStateTracker, hide_rule_turn: bool, omits: Tuple[bool, ...]) -> _Point:
    return _Point(
        hide_rule_turn=hide_rule_turn,
        keeps_hidden=bool(tracker.followup_action) or tracker.latest_action_name == tracker.active_loop_name,
        prev_action=domain._get_prev_action_sub_state(tracker),
        raw={omit: domain.get_active_state(tracker, omit_unset_slots=omit) for omit in omits},
    )


def _step(domain: Domain, fold: _Fold, point: _Point, omit: bool, ignore_rule_only_turns: bool,
          rule_only_data: Optional[Dict[Text, Any]], states: List[State]) -> Optional[State]:
    """One iteration of ``Domain.states_for_tracker_history``'s loop: the
    state to append, or None for a hidden turn; ``fold``'s carried values are
    updated."""
    if ignore_rule_only_turns:
        if not fold.turn_was_hidden:
            fold.last_ml_action_sub_state = point.prev_action
        if not point.keeps_hidden:
            fold.turn_was_hidden = point.hide_rule_turn
        if fold.turn_was_hidden:
            return None
    state = copy.deepcopy(point.raw[omit])
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if states:
            domain._substitute_rule_only_user_input(state, states[-1])
        if fold.last_ml_action_sub_state:
            state["prev_action"] = fold.last_ml_action_sub_state
    return domain._clean_state(state)


class _Conversation:
    def __init__(self, domain: Domain, tracker: DialogueStateTracker) -> None:
        self.domain = domain
        self.is_rule_tracker = tracker.is_rule_tracker
        self.events: List[Event] = []
        self.replay = tracker.init_copy()
        self.points: List[_Point] = []
        self.omits: Tuple[bool, ...] = ()
        self.folds: Dict[Tuple[Any, ...], _Fold] = {}

    def matches(self, domain: Domain, tracker: DialogueStateTracker, applied: List[Event]) -> bool:
        return (domain is self.domain and tracker.is_rule_tracker == self.is_rule_tracker
                and len(applied) >= len(self.events) and all(map(operator.is_, self.events, applied)))

    def advance(self, applied: List[Event]) -> None:
        for event in applied[len(self.events):]:
            if isinstance(event, ActionExecuted):
                self.points.append(_point(self.domain, self.replay, event.hide_rule_turn, self.omits))
            self.replay.update(event)
            self.events.append(event)

    def states(self, omit: bool, ignore_rule_only_turns: bool, rule_only_data: Optional[Dict[Text, Any]]) -> List[State]:
        key = (omit, ignore_rule_only_turns,
               json.dumps(rule_only_data, sort_keys=True, default=str) if ignore_rule_only_turns else None)
        fold = self.folds.setdefault(key, _Fold())
        for point in self.points[fold.done:]:
            state = _step(self.domain, fold, point, omit, ignore_rule_only_turns, rule_only_data, fold.states)
            if state is not None:
                fold.states.append(state)
            fold.done += 1
        # the tracker after the last event: not a point yet (events may follow before the next action)
        last = _point(self.domain, self.replay, False, (omit,))
        carried = _Fold(fold.states, fold.done, fold.turn_was_hidden, fold.last_ml_action_sub_state)
        state = _step(self.domain, carried, last, omit, ignore_rule_only_turns, rule_only_data, fold.states)
        return list(fold.states) + ([state] if state is not None else [])


class StatesMemo:
    """``past_states`` of each conversation, kept between calls and turns."""

    def __init__(self, max_conversations: int = MAX_CONVERSATIONS) -> None:
        self.max_conversations = max_conversations
        self._conversations: "collections.OrderedDict[Text, _Conversation]" = collections.OrderedDict()
        self.replays = 0  # conversations (re)started from their first event, for the tests

    def past_states(self, tracker: DialogueStateTracker, domain: Domain, omit_unset_slots: bool = False,
                    ignore_rule_only_turns: bool = False,
                    rule_only_data: Optional[Dict[Text, Any]] = None) -> List[State]:
        applied = tracker.applied_events()
        key = tracker.sender_id
        conversation = self._conversations.get(key)
        if conversation is None or not conversation.matches(domain, tracker, applied):
            conversation = _Conversation(domain, tracker)
            self.replays += 1
            self._conversations[key] = conversation
        self._conversations.move_to_end(key)
        while len(self._conversations) > self.max_conversations:
            self._conversations.popitem(last=False)
        if omit_unset_slots not in conversation.omits:
            omits = conversation.omits + (omit_unset_slots,)
            if conversation.points:  # a new kind of state: replay with both
                conversation = self._conversations[key] = _Conversation(domain, tracker)
                self.replays += 1
            conversation.omits = omits
        conversation.advance(applied)
        return conversation.states(omit_unset_slots, ignore_rule_only_turns, rule_only_data)
