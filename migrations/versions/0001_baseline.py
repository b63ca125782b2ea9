"""Baseline: the schema as main had it when Alembic came in (store, bridge and
Telegram tables), adopting databases made before.

Revision ID: 0001
Revises:
Create Date: 2026-12-10

Before this revision three owners made the schema with ``create_all``
(core/store/sql.py, handoff/storage.py, handoff/channels/telegram/), and
added some later columns with ALTERs at start. A database made by any of
those mains has no ``alembic_version`` table, so it starts here too: every
table missing is created (a store that never ran the bridge has no
``handoff_*`` tables; older ones lack ``return_exchanges``, ``handoff_turns``,
the attachments, profiles or Telegram tables) and every column missing from
a table that exists is added (``handoff_episodes.outcome``/``ended_at``,
``handoff_messages.delivered_at``, ``handoff_telegram_buttons.message_id``;
their old rows read NULL, as they did after main's ALTERs). Rows are never
rewritten. On a fresh database it creates everything.

The tables are written out here with plain types, not imported from the
models: the models will change, this revision must not (``UtcDateTime`` is
stored as a naive DATETIME, ``Money`` as NUMERIC(10, 2)).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

schema = sa.MetaData()
UTC_NAIVE = DateTime()          # core.store.models.UtcDateTime
MONEY = Numeric(10, 2)          # core.store.models.Money
AWARE = DateTime(timezone=True)

# -- the store (core/store/models.py) --------------------------------------

Table(
    "customers", schema,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False, unique=True, index=True),
    Column("name", String(200), nullable=False),
    Column("phone", String(40), nullable=False),
    Column("phone_digits", String(20), nullable=False, index=True),
    Column("country", String(60), nullable=False),
    Column("city", String(100), nullable=False),
    Column("created_at", UTC_NAIVE, nullable=False),
)

Table(
    "orders", schema,
    Column("order_id", String(6), primary_key=True),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False, index=True),
    Column("status", String(30), nullable=False, index=True),
    Column("placed_at", UTC_NAIVE, nullable=False),
    Column("expected_delivery", Date, nullable=False),
    Column("total", MONEY, nullable=False),
    Column("payment_method", String(60), nullable=False),
    Column("ship_street", String(200), nullable=False),
    Column("ship_postal_code", String(20), nullable=False),
    Column("ship_city", String(100), nullable=False),
    Column("ship_province", String(100), nullable=False),
    Column("ship_country", String(60), nullable=False),
    Column("invoice_number", String(30), nullable=True),
)

Table(
    "order_items", schema,
    Column("id", Integer, primary_key=True),
    Column("order_id", String(6), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("sku", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", MONEY, nullable=False),
    Column("final_sale", Boolean, nullable=False),
)

Table(
    "shipments", schema,
    Column("order_id", String(6), ForeignKey("orders.order_id"), primary_key=True),
    Column("carrier", String(30), nullable=False),
    Column("tracking_number", String(40), nullable=False, index=True),
    Column("shipped_at", UTC_NAIVE, nullable=False),
    Column("delivered_at", UTC_NAIVE, nullable=True),
)

Table(
    "returns", schema,
    Column("id", Integer, primary_key=True),
    Column("return_number", String(10), nullable=False, unique=True, index=True),
    Column("order_id", String(6), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", UTC_NAIVE, nullable=False),
)

Table(
    "return_items", schema,
    Column("return_id", Integer, ForeignKey("returns.id"), primary_key=True),
    Column("order_item_id", Integer, ForeignKey("order_items.id"), primary_key=True),
)

Table(
    "return_exchanges", schema,
    Column("return_id", Integer, ForeignKey("returns.id"), primary_key=True),
    Column("wanted_variant", String(100), nullable=False),
    Column("created_at", UTC_NAIVE, nullable=False),
)

Table(
    "refunds", schema,
    Column("id", Integer, primary_key=True),
    Column("order_id", String(6), ForeignKey("orders.order_id"), nullable=False, index=True),
    Column("return_id", Integer, ForeignKey("returns.id"), nullable=True),
    Column("amount", MONEY, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UTC_NAIVE, nullable=False),
    Column("expected_at", Date, nullable=False),
    Column("completed_at", UTC_NAIVE, nullable=True),
)

# -- the bridge (handoff/storage.py) -------------------------------------------

Table(
    "handoff_agents", schema,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("token_salt", LargeBinary(32), nullable=False),
    Column("token_hash", LargeBinary(64), nullable=False),
    Column("created_at", AWARE, nullable=False),
)

Table(
    "handoff_conversations", schema,
    Column("id", String(40), primary_key=True),
    Column("session_id", String(64), nullable=False, unique=True),
    Column("channel", String(20), nullable=False),
    Column("state", String(10), nullable=False, index=True),
    Column("agent_id", String(32), ForeignKey("handoff_agents.id"), nullable=True, index=True),
    Column("reason", String(64), nullable=True),
    Column("context", Text, nullable=True),
    Column("queued_at", AWARE, nullable=True),
    Column("queue_rank", Float, nullable=True),
    Column("offline", Boolean, nullable=False),
    Column("contact_email", String(254), nullable=True),
    Column("preview", Text, nullable=True),
    Column("episode_id", Integer, nullable=True),
    Column("csat_episode_id", Integer, nullable=True),
    Column("created_at", AWARE, nullable=False),
    Column("updated_at", AWARE, nullable=False),
)

Table(
    "handoff_messages", schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("sender", String(10), nullable=False),
    Column("text", Text, nullable=False),
    Column("data", Text, nullable=True),
    Column("agent_id", String(32), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("created_at", AWARE, nullable=False),
    Column("delivered_at", AWARE, nullable=True),              # added by ALTER before Alembic
    UniqueConstraint("conversation_id", "client_id", name="uq_handoff_messages_client_id"),
)

Table(
    "handoff_episodes", schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("reason", String(64), nullable=False),
    Column("offline", Boolean, nullable=False),
    Column("queued_at", AWARE, nullable=False),
    Column("assigned_at", AWARE, nullable=True),
    Column("first_reply_at", AWARE, nullable=True),
    Column("closed_at", AWARE, nullable=True, index=True),
    Column("agent_id", String(32), nullable=True),
    Column("resolution", String(20), nullable=True),
    Column("outcome", String(20), nullable=True),              # added by ALTER before Alembic
    Column("ended_at", AWARE, nullable=True),                  # added by ALTER before Alembic
)

Table(
    "handoff_csat", schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False),
    Column("episode_id", Integer, ForeignKey("handoff_episodes.id"), nullable=False, unique=True),
    Column("agent_id", String(32), nullable=True),
    Column("reason", String(64), nullable=False),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("created_at", AWARE, nullable=False),
)

Table(
    "handoff_attachments", schema,
    Column("id", String(40), primary_key=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("source_key", String(100), nullable=True),
    Column("created_at", AWARE, nullable=False),
    UniqueConstraint("conversation_id", "source_key", name="uq_handoff_attachments_source"),
)

Table(
    "handoff_profiles", schema,
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), primary_key=True),
    Column("display_name", String(100), nullable=True),
    Column("verified_customer", Text, nullable=True),
    Column("updated_at", AWARE, nullable=False),
)

Table(
    "handoff_turns", schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("handoff_conversations.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("message_id", Integer, nullable=True, unique=True),
    Column("created_at", AWARE, nullable=False),
    sqlite_autoincrement=True,
)

# -- the Telegram channel (handoff/channels/telegram/) -----------------------

Table(
    "handoff_telegram_chats", schema,
    Column("chat_id", BigInteger, primary_key=True, autoincrement=False),
    Column("conversation_id", String(40), nullable=True, unique=True),
    Column("kind", String(16), nullable=False),
    Column("announced_state", String(10), nullable=True),
    Column("created_at", AWARE, nullable=False),
)

Table(
    "handoff_telegram_updates", schema,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("processed_at", AWARE, nullable=False, index=True),
)

Table(
    "handoff_telegram_outbox", schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False, index=True),
    Column("conversation_id", String(40), nullable=True),
    Column("source_key", String(64), nullable=True, unique=True),
    Column("body", Text, nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", AWARE, nullable=False),
    Column("last_error", String(120), nullable=True),
    Column("telegram_message_id", BigInteger, nullable=True),
    Column("created_at", AWARE, nullable=False),
    Column("sent_at", AWARE, nullable=True),
)

Table(
    "handoff_telegram_buttons", schema,
    Column("id", String(16), primary_key=True),
    Column("conversation_id", String(40), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", AWARE, nullable=False),
    Column("message_id", String(20), nullable=True),           # added by ALTER before Alembic
)


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for table in schema.sorted_tables:
        if table.name not in existing:
            table.create(bind)  # with its indexes, as create_all made it
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"{table.name} has no {column.name} (NOT NULL): this database is not one an earlier "
                    "main made; migrate it by hand")
            op.add_column(table.name, Column(column.name, column.type, nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(schema.sorted_tables):
        table.drop(bind, checkfirst=True)
