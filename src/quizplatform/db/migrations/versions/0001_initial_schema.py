"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:06:07.003432
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "quizzes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("time_limit_seconds", sa.Integer(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("shuffle_questions", sa.Boolean(), nullable=False),
        sa.Column("shuffle_options", sa.Boolean(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("show_correct_answers", sa.String(length=16), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_quizzes_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quizzes")),
    )
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quizzes_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_quizzes_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_quizzes_status_published_at", ["status", "published_at"], unique=False
        )

    op.create_table(
        "attempts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("quiz_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("question_ids", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_submitted", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("max_score", sa.Float(), nullable=True),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_attempts_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_attempts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_quiz_id_user_id", ["quiz_id", "user_id"], unique=False)
        batch_op.create_index(
            "ix_attempts_status_deadline_at", ["status", "deadline_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_attempts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "questions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("quiz_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=255), nullable=True),
        sa.Column("text_format", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Boolean(), nullable=True),
        sa.Column("wrong_feedback", sa.Text(), nullable=True),
        sa.Column("right_feedback", sa.Text(), nullable=True),
        sa.Column("case_sensitive", sa.Boolean(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaces_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_questions_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["questions.id"],
            name=op.f("fk_questions_replaces_id_questions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questions")),
    )
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_questions_quiz_id_archived_position",
            ["quiz_id", "archived_at", "position"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_questions_replaces_id"), ["replaces_id"], unique=False)

    op.create_table(
        "quiz_tags",
        sa.Column("quiz_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quiz_id"],
            ["quizzes.id"],
            name=op.f("fk_quiz_tags_quiz_id_quizzes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_quiz_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("quiz_id", "tag_id", name=op.f("pk_quiz_tags")),
    )
    with op.batch_alter_table("quiz_tags", schema=None) as batch_op:
        batch_op.create_index("ix_quiz_tags_tag_id", ["tag_id"], unique=False)

    op.create_table(
        "question_parts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("right_text", sa.Text(), nullable=True),
        sa.Column("right_id", sa.String(length=32), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("tolerance", sa.Float(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_question_parts_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_parts")),
    )
    with op.batch_alter_table("question_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_question_parts_question_id"), ["question_id"], unique=False
        )

    op.create_table(
        "question_tags",
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_question_tags_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_question_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("question_id", "tag_id", name=op.f("pk_question_tags")),
    )
    with op.batch_alter_table("question_tags", schema=None) as batch_op:
        batch_op.create_index("ix_question_tags_tag_id", ["tag_id"], unique=False)

    op.create_table(
        "responses",
        sa.Column("attempt_id", sa.String(length=32), nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("manual_score", sa.Float(), nullable=True),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"],
            ["attempts.id"],
            name=op.f("fk_responses_attempt_id_attempts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["questions.id"],
            name=op.f("fk_responses_question_id_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("attempt_id", "question_id", name=op.f("pk_responses")),
    )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index("ix_responses_question_id", ["question_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Full-text search over published quizzes (the SQLite fallback uses LIKE).
        op.execute(
            "CREATE INDEX ix_quizzes_search ON quizzes USING gin "
            "(to_tsvector('simple', title || ' ' || description))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_quizzes_search")

    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_index("ix_responses_question_id")

    op.drop_table("responses")
    with op.batch_alter_table("question_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_question_tags_tag_id")

    op.drop_table("question_tags")
    with op.batch_alter_table("question_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_parts_question_id"))

    op.drop_table("question_parts")
    with op.batch_alter_table("quiz_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_quiz_tags_tag_id")

    op.drop_table("quiz_tags")
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questions_replaces_id"))
        batch_op.drop_index("ix_questions_quiz_id_archived_position")

    op.drop_table("questions")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_user_id"))
        batch_op.drop_index("ix_attempts_status_deadline_at")
        batch_op.drop_index("ix_attempts_quiz_id_user_id")

    op.drop_table("attempts")
    with op.batch_alter_table("quizzes", schema=None) as batch_op:
        batch_op.drop_index("ix_quizzes_status_published_at")
        batch_op.drop_index(batch_op.f("ix_quizzes_status"))
        batch_op.drop_index(batch_op.f("ix_quizzes_owner_id"))

    op.drop_table("quizzes")
    op.drop_table("users")
    op.drop_table("tags")
