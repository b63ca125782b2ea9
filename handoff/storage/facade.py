"""``Storage``: the one object the bridge, its channels and the CLI hold,
made of every job's part (one module each, all over one ``StorageEngine``).

Why parts and not one class: each job (agents, conversations, messages,
turns, handoff state changes, episodes, ratings, labels, ...) reads and
writes its own tables and can be read on its own; what they share is the
engine (engine.py), the tables (tables.py), the records (records.py) and the
few rows one job writes inside another's transaction (``read_conversation``,
``insert_message``, ``add_event``, the turn statements). Limit: the parts
only add methods; none keeps state of its own.
"""
from __future__ import annotations

from handoff.storage.agents import AgentStorage
from handoff.storage.attachments import AttachmentStorage
from handoff.storage.conversations import ConversationStorage
from handoff.storage.customers import CustomerStorage
from handoff.storage.episodes import EpisodeStorage
from handoff.storage.labels import LabelStorage
from handoff.storage.messages import MessageStorage
from handoff.storage.profiles import ProfileStorage
from handoff.storage.ratings import RatingStorage
from handoff.storage.transitions import HandoffStorage
from handoff.storage.turns import TurnStorage


class Storage(AgentStorage, ConversationStorage, ProfileStorage, AttachmentStorage, MessageStorage, TurnStorage,
              HandoffStorage, EpisodeStorage, RatingStorage, CustomerStorage, LabelStorage):
    """The bridge's tables over one lazily created engine."""
