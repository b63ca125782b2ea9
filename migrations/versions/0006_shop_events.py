"""The shop's order events: ``shop_events``, one row per event id applied
(POST /api/shop/events, core/store/models.py ``ShopEventRow``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

The event id is the primary key: it is inserted in the transaction that
changes the order, so a delivery repeated (after a restart, or by two
bridges at once) is applied once. ``notified_at`` is for the order-update
notifications that come later (NULL: nobody was told yet). A new table
only: no existing row changes.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

UTC_NAIVE = sa.DateTime()  # the store's tables keep naive UTC (core/store/models.py UtcDateTime)


def upgrade() -> None:
    if "shop_events" in sa.inspect(op.get_bind()).get_table_names():
        return  # as 0002: a database faked old from a new one may have it
    op.create_table(
        "shop_events",
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("topic", sa.String(40), nullable=False),
        sa.Column("order_id", sa.String(6), sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("occurred_at", UTC_NAIVE, nullable=False),
        sa.Column("received_at", UTC_NAIVE, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("notified_at", UTC_NAIVE, nullable=True),
    )
    op.create_index("ix_shop_events_order_id", "shop_events", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_shop_events_order_id", table_name="shop_events")
    op.drop_table("shop_events")
