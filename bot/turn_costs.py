"""Per-turn work of Rasa 3.6 that grew with the conversation, made to cost
the same at turn 120 as at turn 1 (issue 11; applied by
``bot.rasa_server.apply_patches`` with ``RASA_TURN_CACHE=on``).

- ``applied_events``: Rasa walks every event of the session (twice: once for
  the loop names) on every call, several calls per turn. ``AppliedEvents``
  keeps the result on the tracker and continues it with appended events.
- ``rule_window``: how many of the last states the RulePolicy's rules can
  look at; beyond that its matching cannot change (see the function).
- ``copy_tracker``: ``DialogueStateTracker.copy`` without the replay of
  every event (``bot.tracker_store.snapshot``).

Each result is Rasa's own for the same tracker; tests/test_turns.py compares
a long conversation's predicted actions with Rasa's code.
"""
from __future__ import annotations

import json
import weakref
from typing import Any, Dict, Iterable, List, Optional, Set, Text

from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

MEMO_ATTRIBUTE = "_turn_costs_applied"


class AppliedEvents:
    """Rasa's ``applied_events`` of one tracker, up to ``count`` of its events.

    Valid while the tracker's events start with the same objects (first and
    ``count``-th by identity): appends are continued, anything else (an event
    dropped by ``max_event_history``, the events replaced, a new loop name,
    which changes how earlier loop executions count) computes afresh. A copy
    of a tracker (``copy.copy``) shares the memo until it appends: the list is
    then copied, never changed under another tracker.
    Limit: an event replaced in the middle of the same-length prefix, with
    the first and the ``count``-th unchanged, would go unseen; Rasa changes
    a tracker's events only by appending (``update``) or by replacing them
    all (``_reset``, ``recreate_from_dialogue``)."""

    def __init__(self, tracker: DialogueStateTracker) -> None:
        self.owner = weakref.ref(tracker)
        self.count = 0
        self.first: Optional[Event] = None
        self.last: Optional[Event] = None
        self.applied: List[Event] = []
        self.loop_names: Set[Text] = set()

    def valid_for(self, events: Any) -> bool:
        count = self.count
        return (count > 0 and len(events) >= count and events[0] is self.first
                and events[count - 1] is self.last)

    def advance(self, tracker: DialogueStateTracker, new: Iterable[Event]) -> None:
        applied = self.applied
        for event in new:
            if isinstance(event, (Restarted, SessionStarted)):
                applied.clear()
            elif isinstance(event, ActionReverted):
                tracker._undo_till_previous(ActionExecuted, applied)
            elif isinstance(event, UserUtteranceReverted):
                tracker._undo_till_previous(UserUttered, applied)
                tracker._undo_till_previous(ActionExecuted, applied)
            elif (isinstance(event, ActionExecuted) and event.action_name in self.loop_names
                  and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)):
                tracker._undo_till_previous_loop_execution(event.action_name, applied)
            else:
                applied.append(event)


def applied_events(tracker: DialogueStateTracker) -> List[Event]:
    """``tracker.applied_events()``, continued from the last call (a new list)."""
    events = tracker.events
    memo: Optional[AppliedEvents] = tracker.__dict__.get(MEMO_ATTRIBUTE)
    if memo is not None and memo.valid_for(events):
        new = [events[i] for i in range(memo.count, len(events))]  # from the right end: no walk
        if any(isinstance(e, ActiveLoop) and e.name and e.name not in memo.loop_names for e in new):
            memo, new = None, list(events)
        elif new and memo.owner() is not tracker:  # shared with the tracker it was copied from
            own = AppliedEvents(tracker)
            own.count, own.first, own.last = memo.count, memo.first, memo.last
            own.applied, own.loop_names = list(memo.applied), memo.loop_names
            memo = own
    else:
        memo = None
        new = list(events)
    if memo is None:
        memo = AppliedEvents(tracker)
        memo.loop_names = {e.name for e in new if isinstance(e, ActiveLoop) and e.name}
    if new:
        memo.advance(tracker, new)
        memo.count = len(events)
        memo.first, memo.last = events[0], events[-1]
    tracker.__dict__[MEMO_ATTRIBUTE] = memo
    return list(memo.applied)


def _states_in_key(key: Any) -> int:
    """How many states a RulePolicy lookup key holds (0 for a source name
    that is not a state list, such as the default rules' names)."""
    if not isinstance(key, str) or not key.startswith("["):
        return 0
    try:
        states = json.loads(key)
    except ValueError:
        return 0
    return len(states) if isinstance(states, list) else 0


def rule_window(lookup: Dict[Text, Any]) -> int:
    """The number of last states that gives a trained RulePolicy exactly the
    prediction it makes from the whole history.

    Why it is exact: ``_get_possible_keys`` filters the rules state by state
    from the last one back, and a rule is accepted without a check once the
    index passes its own length, so states older than the longest rule change
    nothing; the feature key returned when no rule matches is only compared
    with ``rules_not_in_stories`` (for ``hide_rule_turn``), and a key longer
    than all of those equals none of them, cut or not. Hence the longest key
    of the lookup, plus one."""
    longest = 0
    for name in ("rules", "rules_for_loop_unhappy_path", "rules_not_in_stories"):
        for key in lookup.get(name) or ():
            longest = max(longest, _states_in_key(key))
    return longest + 1


def copy_tracker(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """``DialogueStateTracker.copy`` without replaying the events: the state
    is copied (``snapshot``), the (unchanging) event objects shared.
    Limit: equal to the replay only if the tracker's state is what its events
    make (Rasa changes a tracker only through ``update``)."""
    from bot.tracker_store import snapshot

    return snapshot(tracker)
