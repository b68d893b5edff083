"""Live games (issue 19): the game rows, and the attempts that are a player's seat in one

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_games",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("quiz_id", sa.String(length=32), nullable=False),
        sa.Column("host_id", sa.String(length=32), nullable=False),
        sa.Column("pin", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("question_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_live_games_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["users.id"],
            name=op.f("fk_live_games_host_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_games")),
    )
    op.create_index(op.f("ix_live_games_quiz_id"), "live_games", ["quiz_id"])
    op.create_index(op.f("ix_live_games_host_id"), "live_games", ["host_id"])
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("live_game_id", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            op.f("fk_attempts_live_game_id_live_games"),
            "live_games",
            ["live_game_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_attempts_live_game_id"), ["live_game_id"])


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_index(op.f("ix_attempts_live_game_id"))
        batch.drop_constraint(op.f("fk_attempts_live_game_id_live_games"), type_="foreignkey")
        batch.drop_column("live_game_id")
    op.drop_index(op.f("ix_live_games_host_id"), table_name="live_games")
    op.drop_index(op.f("ix_live_games_quiz_id"), table_name="live_games")
    op.drop_table("live_games")
