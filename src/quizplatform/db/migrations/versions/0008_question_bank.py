"""A question bank per teacher with random draws: the draw rules of quizzes, and the
questions each attempt drew

The bank itself needs no table: it is a hidden quiz row per teacher (status ``bank``)
whose questions are versioned like any other (``services/bank.py``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quiz_draws",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("quiz_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("tag", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_quiz_draws_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_draws")),
    )
    op.create_index(op.f("ix_quiz_draws_quiz_id"), "quiz_draws", ["quiz_id"])
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("drawn", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("drawn")
    op.drop_index(op.f("ix_quiz_draws_quiz_id"), table_name="quiz_draws")
    op.drop_table("quiz_draws")
