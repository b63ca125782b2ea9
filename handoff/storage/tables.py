"""The bridge's tables (the store's database, names prefixed ``handoff_``).

Why a module of its own: the schema is shared by every job of the storage,
by the reports' queries (handoff/reports.py, bench/reports.py) and by the
migrations (``metadata``, migrations/__init__.py), and it changes only with a
migration. Nothing here runs a statement.
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

agents_table = Table(
    "handoff_agents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("token_salt", LargeBinary(32), nullable=False),
    Column("token_hash", LargeBinary(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # agent | supervisor (reports: ../shared/design/reports.md)
    Column("role", String(12), nullable=False, server_default="agent"),
)

conversations_table = Table(
    "handoff_conversations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("session_id", String(64), nullable=False, unique=True),
    Column("channel", String(20), nullable=False),
    Column("state", String(10), nullable=False, index=True),
    Column("agent_id", String(32), ForeignKey("handoff_agents.id"), nullable=True, index=True),
    Column("reason", String(64), nullable=True),
    Column("context", Text, nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=True),
    Column("queue_rank", Float, nullable=True),
    Column("offline", Boolean, nullable=False, default=False),
    Column("contact_email", String(254), nullable=True),
    Column("preview", Text, nullable=True),
    Column("episode_id", Integer, nullable=True),
    Column("csat_episode_id", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # the store customer this conversation's shopper proved to be, and how
    # (order_email | telegram_phone | shop_identity): links conversations across channels
    Column("customer_id", String(64), nullable=True, index=True),
    Column("customer_linked_by", String(20), nullable=True),
    # for the reports (migration 0003): when the first customer message came
    # (the conversation's day) and the first handoff was queued
    Column("first_customer_at", DateTime(timezone=True), nullable=True, index=True),
    Column("first_handoff_at", DateTime(timezone=True), nullable=True),
    # the closed handoff whose NPS question waits for the customer's answer
    Column("nps_episode_id", Integer, nullable=True),
)

messages_table = Table(
    "handoff_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("sender", String(10), nullable=False),  # customer | bot | agent | system | note | handoff
    Column("text", Text, nullable=False),
    Column("data", Text, nullable=True),           # JSON: buttons, payload
    Column("agent_id", String(32), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # an agent's message the shopper's side confirmed (widget showed it, Telegram took it)
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("conversation_id", "client_id", name="uq_handoff_messages_client_id"),
)

episodes_table = Table(
    "handoff_episodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("reason", String(64), nullable=False),
    Column("offline", Boolean, nullable=False, default=False),
    Column("queued_at", DateTime(timezone=True), nullable=False, index=True),
    Column("assigned_at", DateTime(timezone=True), nullable=True),
    Column("first_reply_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True, index=True),
    Column("agent_id", String(32), nullable=True),
    Column("resolution", String(20), nullable=True),
    # how the episode ended (reports count them): ``closed`` by an agent, or
    # ``withdrawn`` by the customer leaving the queue before a claim, or
    # ``abandoned`` when their web page was gone too long while queued (then
    # ``closed_at`` and ``resolution`` stay NULL: nobody handled it); NULL while open
    Column("outcome", String(20), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)

# Who held each handoff and how it passed on: the reports' "several agents
# handled" and transfers (the episode's agent_id is the last holder).
assignments_table = Table(
    "handoff_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Integer, ForeignKey("handoff_episodes.id"), nullable=False, index=True),
    Column("agent_id", String(32), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("started_by", String(12), nullable=False),   # claim | transfer
    Column("ended_by", String(12), nullable=True),      # transfer | requeue | lost | close
)

labels_table = Table(
    "handoff_labels",
    metadata,
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), primary_key=True),
    Column("label", String(32), primary_key=True, index=True),
    Column("added_by", String(32), nullable=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

nps_table = Table(
    "handoff_nps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("handoff_episodes.id"), nullable=False, unique=True),
    Column("score", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

csat_table = Table(
    "handoff_csat",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("handoff_episodes.id"), nullable=False, unique=True),
    Column("agent_id", String(32), nullable=True),
    Column("reason", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

attachments_table = Table(
    "handoff_attachments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),          # photo | document
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("source_key", String(100), nullable=True),     # e.g. tg:<update_id>: stored once
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("conversation_id", "source_key", name="uq_handoff_attachments_source"),
)

# What a channel knows about the customer besides the messages: a display name
# (Telegram's first name) and a customer the channel verified (own phone).
profiles_table = Table(
    "handoff_profiles",
    metadata,
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), primary_key=True),
    Column("display_name", String(100), nullable=True),
    Column("verified_customer", Text, nullable=True),     # JSON, same shape as the handoff payload's customer
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


# Work the bridge owes a customer: answering a message (``message``), or the
# bot's line after an agent closed (``resume``). Written in the transaction
# that makes it owed, deleted when done; a bridge that died in between finds
# it at start (Bridge.recover) and a resent message finds its own.
turns_table = Table(
    "handoff_turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),          # message | resume | withdraw
    Column("message_id", Integer, nullable=True, unique=True),  # the customer message to answer
    Column("created_at", DateTime(timezone=True), nullable=False),
    # never an id twice (SQLite would give a finished turn's id to the next one,
    # and the bot's line of that turn is stored under it): see Turn.key for older tables
    sqlite_autoincrement=True,
)

# UTC days whose report data changed once they were old (migration 0005's
# triggers write it; handoff/report_cache.py reads it). Nothing else writes here.
report_changes_table = Table(
    "handoff_report_changes",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("generation", Integer, nullable=False),
)
