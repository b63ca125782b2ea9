"""The state machine alone: transitions, routing, who may talk."""
from __future__ import annotations

import pytest

from handoff.state import (
    TRANSITIONS,
    AlreadyHandedOff,
    Event,
    InvalidTransition,
    Route,
    State,
    customer_route,
    may_deliver,
    next_state,
)


@pytest.mark.parametrize("state, event, target", [
    (State.BOT, Event.HANDOFF, State.QUEUED),
    (State.QUEUED, Event.CLAIM, State.AGENT),
    (State.AGENT, Event.TRANSFER_TO_QUEUE, State.QUEUED),
    (State.AGENT, Event.TRANSFER_TO_AGENT, State.AGENT),
    (State.AGENT, Event.AGENT_LOST, State.QUEUED),
    (State.AGENT, Event.CLOSE, State.BOT),
    (State.QUEUED, Event.WITHDRAW, State.BOT),
])
def test_allowed_transitions(state: State, event: Event, target: State) -> None:
    assert next_state(state, event) is target


@pytest.mark.parametrize("state", [State.QUEUED, State.AGENT])
def test_a_second_handoff_never_queues_twice(state: State) -> None:
    with pytest.raises(AlreadyHandedOff):
        next_state(state, Event.HANDOFF)


def test_every_other_pair_is_refused() -> None:
    for state in State:
        for event in Event:
            if (state, event) in TRANSITIONS:
                continue
            with pytest.raises(InvalidTransition):
                next_state(state, event)


def test_claim_twice_is_refused() -> None:
    assert next_state(State.QUEUED, Event.CLAIM) is State.AGENT
    with pytest.raises(InvalidTransition):
        next_state(State.AGENT, Event.CLAIM)


def test_customer_text_route() -> None:
    assert customer_route(State.BOT) is Route.RASA
    assert customer_route(State.QUEUED) is Route.QUEUE
    assert customer_route(State.AGENT) is Route.AGENT


def test_bot_speaks_only_in_bot_state() -> None:
    assert may_deliver(State.BOT, "bot")
    assert not may_deliver(State.QUEUED, "bot")
    assert not may_deliver(State.AGENT, "bot")


def test_only_the_assigned_agent_speaks() -> None:
    assert may_deliver(State.AGENT, "agent", "a1", "a1")
    assert not may_deliver(State.AGENT, "agent", "a2", "a1")
    assert not may_deliver(State.QUEUED, "agent", "a1", None)
    assert not may_deliver(State.BOT, "agent", "a1", None)


def test_system_messages_always_and_unknown_senders_never() -> None:
    for state in State:
        assert may_deliver(state, "system")
        assert not may_deliver(state, "note")


@pytest.mark.parametrize("state", [State.BOT, State.AGENT])
def test_leaving_the_queue_only_while_queued(state: State) -> None:
    """Once an agent has claimed the conversation the customer cannot withdraw
    (the agent closes it); with the bot there is nothing to leave."""
    with pytest.raises(InvalidTransition):
        next_state(state, Event.WITHDRAW)
