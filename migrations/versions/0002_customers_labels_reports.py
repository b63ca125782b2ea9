"""Issue 10's data: agents' roles, who handled each handoff (assignments),
labels, the customer a conversation is linked to, NPS answers, and the indexes
the reports read by time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Existing rows keep their meaning: every agent is an ``agent`` (a supervisor
is made with ``python -m handoff agent add NAME --role supervisor``), old
conversations are linked to no customer (they are linked when their shopper is
verified again), and old episodes have no assignment rows (reports then credit
the episode's own agent_id).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Each step only if missing: a database adopted by 0001 may already hold
    some of these (a test that fakes an old database from a new one does)."""
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())

    def columns(table: str) -> set:
        return {c["name"] for c in inspector.get_columns(table)}

    def indexes(table: str) -> set:
        return {i["name"] for i in inspector.get_indexes(table)}

    if "role" not in columns("handoff_agents"):
        with op.batch_alter_table("handoff_agents") as batch:
            batch.add_column(sa.Column("role", sa.String(12), nullable=False, server_default="agent"))
    if "customer_id" not in columns("handoff_conversations"):
        with op.batch_alter_table("handoff_conversations") as batch:
            batch.add_column(sa.Column("customer_id", sa.String(64), nullable=True))
            batch.add_column(sa.Column("customer_linked_by", sa.String(20), nullable=True))
    if "ix_handoff_conversations_customer_id" not in indexes("handoff_conversations"):
        op.create_index("ix_handoff_conversations_customer_id", "handoff_conversations", ["customer_id"])
    if "ix_handoff_messages_created_at" not in indexes("handoff_messages"):
        op.create_index("ix_handoff_messages_created_at", "handoff_messages", ["created_at"])
    if "ix_handoff_episodes_queued_at" not in indexes("handoff_episodes"):
        op.create_index("ix_handoff_episodes_queued_at", "handoff_episodes", ["queued_at"])
    if "handoff_assignments" not in tables:
        op.create_table(
            "handoff_assignments",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("episode_id", sa.Integer, sa.ForeignKey("handoff_episodes.id"), nullable=False, index=True),
            sa.Column("agent_id", sa.String(32), nullable=False, index=True),
            sa.Column("started_at", AWARE, nullable=False),
            sa.Column("ended_at", AWARE, nullable=True),
            # claim | transfer (how it started); transfer | requeue | lost | close (how it ended)
            sa.Column("started_by", sa.String(12), nullable=False),
            sa.Column("ended_by", sa.String(12), nullable=True),
        )
    if "handoff_labels" not in tables:
        op.create_table(
            "handoff_labels",
            sa.Column("conversation_id", sa.String(40), sa.ForeignKey("handoff_conversations.id"), primary_key=True),
            sa.Column("label", sa.String(32), primary_key=True),
            sa.Column("added_by", sa.String(32), nullable=True),
            sa.Column("added_at", AWARE, nullable=False),
        )
        op.create_index("ix_handoff_labels_label", "handoff_labels", ["label"])
    if "handoff_nps" not in tables:
        op.create_table(
            "handoff_nps",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("conversation_id", sa.String(40), sa.ForeignKey("handoff_conversations.id"), nullable=False),
            sa.Column("episode_id", sa.Integer, sa.ForeignKey("handoff_episodes.id"), nullable=False, unique=True),
            sa.Column("score", sa.Integer, nullable=False),
            sa.Column("created_at", AWARE, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("handoff_nps")
    op.drop_index("ix_handoff_labels_label", "handoff_labels")
    op.drop_table("handoff_labels")
    op.drop_table("handoff_assignments")
    op.drop_index("ix_handoff_episodes_queued_at", "handoff_episodes")
    op.drop_index("ix_handoff_messages_created_at", "handoff_messages")
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.drop_index("ix_handoff_conversations_customer_id")
        batch.drop_column("customer_linked_by")
        batch.drop_column("customer_id")
    with op.batch_alter_table("handoff_agents") as batch:
        batch.drop_column("role")
