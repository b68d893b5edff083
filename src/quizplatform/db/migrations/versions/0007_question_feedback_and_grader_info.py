"""Questions: feedback for any other answer, and an essay's information for graders

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("other_feedback", sa.Text(), nullable=True))
        batch.add_column(sa.Column("grader_info", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("grader_info")
        batch.drop_column("other_feedback")
