"""Attempts get a secret 256-bit order key (the 31-bit seed could be brute-forced)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 19:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: attempts started before this keep their seed (and their order) until done.
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("order_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("order_key")
