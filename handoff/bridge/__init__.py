"""The bridge's core: routes every conversation through the state machine.

Channels (handoff/channels/) only parse frames and call these methods; this
package decides, stores, then delivers. Rules it keeps:
- one operation at a time per conversation (an ``asyncio.Lock`` per id, held
  across the Rasa call), and every state change is a DB check-and-set;
- a message is stored before it is acknowledged or delivered;
- bot messages reach a customer only in state ``bot`` (``state.may_deliver``),
  and this state machine alone decides who talks (Rasa never pauses);
- an answer owed to a customer (a message routed to the bot, the bot's line
  after a close) is a *turn* stored with the event that makes it owed and
  finished once (``_bot_turn``, ``_resume``): a process that died mid-turn
  leaves it for the next one (``recover``), and Rasa answers a replayed turn
  from its tracker, so nothing is processed, stored or shown twice.

Channels without a socket (Telegram) register a *customer sink*: every frame
for a customer also goes to the sinks, which decide whether the conversation
is theirs. Customer attachments (photos, documents) are stored in SQL and shown
to agents through signed, expiring URLs (``attachment_url``).

Several bridges (HANDOFF_CLUSTER=redis): every frame goes through the
cluster (handoff/cluster.py), which delivers it on whichever bridge holds the
socket; locks, presence (who is connected) and the leader's duties (the
queue's sweeps, Telegram) are shared there too. Each bridge sends the queue to
its own agents and positions to its own customers whenever the queue changes
anywhere (a ``queue`` envelope); those broadcasts are coalesced, so a burst of
changes costs one read of the queue, not one per change.

One job per file, each a layer over the one below: base.py (constants,
helpers, state), attachment_links.py, delivery.py, queueing.py, sweeps.py,
turns.py, customers.py, agent_side.py, core.py (``Bridge``, the life cycle).
"""
from handoff.bridge.base import *  # noqa: F403  (the constants and helpers channels and tests use)
from handoff.bridge.base import Frame, Seen, Socket
from handoff.bridge.core import Bridge

__all__ = ["Bridge", "Frame", "Seen", "Socket"]
