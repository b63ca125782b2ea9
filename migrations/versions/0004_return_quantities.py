"""Returns of part of an order line: ``return_items.quantity``, the units of
the line that go back in that return.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12

Existing rows keep their meaning: a return used to take whole lines, so an
old row's NULL reads as the line's quantity (``core/store/sql.py``); no
row is rewritten. New rows always store their units.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Only if missing, as 0002 (a database faked old from a new one may have it)."""
    inspector = sa.inspect(op.get_bind())
    if "quantity" not in {c["name"] for c in inspector.get_columns("return_items")}:
        with op.batch_alter_table("return_items") as batch:
            batch.add_column(sa.Column("quantity", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("return_items") as batch:
        batch.drop_column("quantity")
