"""The one state machine of a conversation: who owns it, who may talk.

Why one module: every channel (web chat, agent console, timers, a future
Telegram adapter) asks here where a customer's text goes and whether a bot or
agent message may reach the customer, and storage applies the same
transitions as a database check-and-set. Pure functions, no I/O.

States: ``bot`` (Rasa answers), ``queued`` (waiting for a person; nothing
from Rasa reaches the customer), ``agent`` (one agent owns it). Closing goes
back to ``bot``, and so does the customer leaving the queue (``withdraw``,
only before a claim); a pending CSAT is a flag on the conversation, not a state,
because the customer may keep talking to the bot meanwhile.
"""
from __future__ import annotations

import enum
from typing import Dict, Optional, Tuple


class State(str, enum.Enum):
    BOT = "bot"
    QUEUED = "queued"
    AGENT = "agent"


class Event(str, enum.Enum):
    HANDOFF = "handoff"                  # the bot (or the bridge) asks for a person
    CLAIM = "claim"                      # an agent takes it from the queue
    TRANSFER_TO_QUEUE = "transfer_to_queue"
    TRANSFER_TO_AGENT = "transfer_to_agent"
    AGENT_LOST = "agent_lost"            # the agent's grace period ran out
    CLOSE = "close"                      # the agent closes: back to the bot
    WITHDRAW = "withdraw"                # the customer leaves the queue before a claim: back to the bot


class Route(str, enum.Enum):
    """Where a customer's text goes."""

    RASA = "rasa"
    QUEUE = "queue"    # stored and shown to agents, never sent to Rasa
    AGENT = "agent"


TRANSITIONS: Dict[Tuple[State, Event], State] = {
    (State.BOT, Event.HANDOFF): State.QUEUED,
    (State.QUEUED, Event.CLAIM): State.AGENT,
    (State.AGENT, Event.TRANSFER_TO_QUEUE): State.QUEUED,
    (State.AGENT, Event.TRANSFER_TO_AGENT): State.AGENT,
    (State.AGENT, Event.AGENT_LOST): State.QUEUED,
    (State.AGENT, Event.CLOSE): State.BOT,
    # only while queued: once an agent has claimed, the agent ends it (close)
    (State.QUEUED, Event.WITHDRAW): State.BOT,
}

# Events that need the conversation's current agent (checked by storage too).
AGENT_EVENTS = frozenset({Event.TRANSFER_TO_QUEUE, Event.TRANSFER_TO_AGENT, Event.AGENT_LOST, Event.CLOSE})


class TransitionError(Exception):
    """A transition cannot happen (base of the domain errors below)."""


class InvalidTransition(TransitionError):
    """The event is not allowed in the current state."""

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"{event.value} is not allowed in state {state.value}")
        self.state = state
        self.event = event


class AlreadyHandedOff(InvalidTransition):
    """A handoff while queued or with an agent: never queue twice."""


class StateConflict(TransitionError):
    """Someone else changed the conversation first (lost check-and-set)."""


def next_state(state: State, event: Event) -> State:
    """The state after ``event``, or InvalidTransition."""
    try:
        return TRANSITIONS[(State(state), Event(event))]
    except KeyError as exc:
        if event == Event.HANDOFF:
            raise AlreadyHandedOff(State(state), Event(event)) from exc
        raise InvalidTransition(State(state), Event(event)) from exc


def customer_route(state: State) -> Route:
    """Where a customer's text goes in ``state``."""
    return {State.BOT: Route.RASA, State.QUEUED: Route.QUEUE, State.AGENT: Route.AGENT}[State(state)]


def may_deliver(
    state: State, sender: str, agent_id: Optional[str] = None, assigned_agent: Optional[str] = None
) -> bool:
    """Whether a message from ``sender`` (bot | agent | system) may reach the
    customer now. Bot messages only in ``bot``; agent messages only from the
    assigned agent; system messages always."""
    state = State(state)
    if sender == "bot":
        return state is State.BOT
    if sender == "agent":
        return state is State.AGENT and agent_id is not None and agent_id == assigned_agent
    return sender == "system"
