"""Order updates told to customers: ``handoff_notifications`` (one row per
customer, event and channel) and ``handoff_telegram_consent`` (which chats
take them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

``handoff_notifications`` is channel-neutral (telegram | web now, email
later): the unique key (event_key, customer_id, channel) makes an update
recorded once per customer and channel, however often the planning runs
(after a restart, on a new leader). ``handoff_telegram_consent`` holds a
chat's choice (on | off | blocked); a private chat served before this
revision is taken as started (Telegram lets a user write to a bot only after
pressing Start) and gets ``on``. New tables only, and those rows.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TZ = sa.DateTime(timezone=True)  # as every handoff_* table


def upgrade() -> None:
    tables = sa.inspect(op.get_bind()).get_table_names()
    if "handoff_notifications" not in tables:
        op.create_table(
            "handoff_notifications",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("event_key", sa.String(120), nullable=False),
            sa.Column("event_id", sa.String(100), nullable=True),
            sa.Column("order_id", sa.String(6), nullable=False),
            sa.Column("customer_id", sa.String(64), nullable=False),
            sa.Column("topic", sa.String(40), nullable=False),
            sa.Column("channel", sa.String(20), nullable=False),
            sa.Column("conversation_id", sa.String(40), nullable=True),
            sa.Column("chat_id", sa.BigInteger, nullable=True),
            sa.Column("state", sa.String(10), nullable=False),
            sa.Column("reason", sa.String(40), nullable=True),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("message_id", sa.Integer, nullable=True),
            sa.Column("due_at", TZ, nullable=False),
            sa.Column("created_at", TZ, nullable=False),
            sa.Column("sent_at", TZ, nullable=True),
            sa.UniqueConstraint("event_key", "customer_id", "channel", name="uq_handoff_notifications_key"),
        )
        op.create_index("ix_handoff_notifications_order_id", "handoff_notifications", ["order_id"])
        op.create_index("ix_handoff_notifications_customer_id", "handoff_notifications", ["customer_id"])
        op.create_index("ix_handoff_notifications_state", "handoff_notifications", ["state"])
    if "handoff_telegram_consent" not in tables:
        consent = op.create_table(
            "handoff_telegram_consent",
            sa.Column("chat_id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("state", sa.String(10), nullable=False),
            sa.Column("changed_at", TZ, nullable=False),
        )
        chats = sa.table("handoff_telegram_chats", sa.column("chat_id", sa.BigInteger),
                         sa.column("conversation_id", sa.String), sa.column("kind", sa.String))
        rows = op.get_bind().execute(sa.select(chats.c.chat_id).where(sa.and_(
            chats.c.conversation_id.is_not(None), chats.c.kind == "private"))).all()
        if rows:
            now = sa.func.current_timestamp()
            op.get_bind().execute(sa.insert(consent).from_select(
                ["chat_id", "state", "changed_at"],
                sa.select(chats.c.chat_id, sa.literal("on"), now).where(sa.and_(
                    chats.c.conversation_id.is_not(None), chats.c.kind == "private"))))


def downgrade() -> None:
    op.drop_table("handoff_telegram_consent")
    op.drop_index("ix_handoff_notifications_state", table_name="handoff_notifications")
    op.drop_index("ix_handoff_notifications_customer_id", table_name="handoff_notifications")
    op.drop_index("ix_handoff_notifications_order_id", table_name="handoff_notifications")
    op.drop_table("handoff_notifications")
