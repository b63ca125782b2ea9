"""The reports' times and the NPS question's state: when each conversation's
first customer message arrived and when it was first handed off (the reports
group by those without scanning every message), and the handoff whose NPS
question waits for an answer.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Existing rows are filled in from what is stored: ``first_customer_at`` is the
conversation's oldest customer message, ``first_handoff_at`` its oldest
handoff episode; no NPS question waits for old conversations.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

AWARE = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Each step only if missing (as 0002: a database adopted by 0001 may hold them)."""
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns("handoff_conversations")}
    indexes = {i["name"] for i in inspector.get_indexes("handoff_conversations")}
    missing = [c for c in ("first_customer_at", "first_handoff_at", "nps_episode_id") if c not in columns]
    if missing:
        with op.batch_alter_table("handoff_conversations") as batch:
            for name in missing:
                batch.add_column(sa.Column(name, sa.Integer if name == "nps_episode_id" else AWARE, nullable=True))
    if "ix_handoff_conversations_first_customer_at" not in indexes:
        op.create_index("ix_handoff_conversations_first_customer_at", "handoff_conversations", ["first_customer_at"])
    if "first_customer_at" in missing:
        op.execute(
            "UPDATE handoff_conversations SET first_customer_at = ("
            " SELECT MIN(m.created_at) FROM handoff_messages m"
            " WHERE m.conversation_id = handoff_conversations.id AND m.sender = 'customer')")
    if "first_handoff_at" in missing:
        op.execute(
            "UPDATE handoff_conversations SET first_handoff_at = ("
            " SELECT MIN(e.queued_at) FROM handoff_episodes e"
            " WHERE e.conversation_id = handoff_conversations.id)")


def downgrade() -> None:
    with op.batch_alter_table("handoff_conversations") as batch:
        batch.drop_index("ix_handoff_conversations_first_customer_at")
        batch.drop_column("nps_episode_id")
        batch.drop_column("first_handoff_at")
        batch.drop_column("first_customer_at")
