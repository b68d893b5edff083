"""SQLAlchemy 2 models: normalised tables with an index on every foreign key and lookup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from quizplatform.runtime.clock import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """An opaque, unguessable id."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        dict[str, Any] | None: JSON,
        list[str]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The post-deploy smoke test's account (`quiz smoke setup`): its attempts stay out of
    # leaderboards and reports, its quiz out of the public listing.
    is_smoke: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        # The few smoke accounts, found without a scan (`services/smoke.py`).
        Index(
            "ix_users_smoke",
            "id",
            postgresql_where=text("is_smoke"),
            sqlite_where=text("is_smoke"),
        ),
    )


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


class QuizTag(Base):
    __tablename__ = "quiz_tags"

    quiz_id: Mapped[str] = mapped_column(
        ForeignKey("quizzes.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[Tag] = relationship(lazy="joined")

    __table_args__ = (Index("ix_quiz_tags_tag_id", "tag_id"),)


class QuestionTag(Base):
    __tablename__ = "question_tags"

    question_id: Mapped[str] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[Tag] = relationship(lazy="joined")

    __table_args__ = (Index("ix_question_tags_tag_id", "tag_id"),)


class Quiz(Base):
    __tablename__ = "quizzes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    time_limit_seconds: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    shuffle_questions: Mapped[bool] = mapped_column(Boolean, default=False)
    shuffle_options: Mapped[bool] = mapped_column(Boolean, default=False)
    opens_at: Mapped[datetime | None] = mapped_column()
    closes_at: Mapped[datetime | None] = mapped_column()
    show_correct_answers: Mapped[str] = mapped_column(String(16), default="after_submit")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()

    questions: Mapped[list[Question]] = relationship(
        back_populates="quiz",
        order_by="Question.position",
        primaryjoin="and_(Question.quiz_id == Quiz.id, Question.archived_at.is_(None))",
        viewonly=True,
    )
    tag_links: Mapped[list[QuizTag]] = relationship(cascade="all, delete-orphan")
    draws: Mapped[list[QuizDraw]] = relationship(
        order_by="QuizDraw.position", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_quizzes_status_published_at", "status", "published_at"),)

    @property
    def tags(self) -> list[str]:
        return sorted(link.tag.name for link in self.tag_links)


class Question(Base):
    """A question version. Editing a question that has submitted responses archives this
    row (``archived_at``) and inserts a new one, so past attempts keep their scores."""

    __tablename__ = "questions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    quiz_id: Mapped[str] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(24))
    prompt: Mapped[str] = mapped_column(Text)
    points: Mapped[float] = mapped_column(Float, default=1.0)
    title: Mapped[str | None] = mapped_column(String(255))
    feedback: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(255))
    text_format: Mapped[str] = mapped_column(String(16), default="moodle")
    answer: Mapped[bool | None] = mapped_column(Boolean)
    wrong_feedback: Mapped[str | None] = mapped_column(Text)
    right_feedback: Mapped[str | None] = mapped_column(Text)
    case_sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    other_feedback: Mapped[str | None] = mapped_column(Text)
    grader_info: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column()
    replaces_id: Mapped[str | None] = mapped_column(
        ForeignKey("questions.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    quiz: Mapped[Quiz] = relationship(back_populates="questions", viewonly=True)
    parts: Mapped[list[QuestionPart]] = relationship(
        order_by="QuestionPart.position", cascade="all, delete-orphan"
    )
    tag_links: Mapped[list[QuestionTag]] = relationship(cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_questions_quiz_id_archived_position", "quiz_id", "archived_at", "position"),
    )


class QuizDraw(Base):
    """A random draw of a quiz: ``count`` questions of its owner's bank matching
    ``category`` (subcategories included) and ``tag``, each worth ``points``
    (``domain/draws.py``). The bank is a hidden quiz row per teacher (status ``bank``)."""

    __tablename__ = "quiz_draws"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    quiz_id: Mapped[str] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    points: Mapped[float] = mapped_column(Float, default=1.0)
    category: Mapped[str | None] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(64))


class QuestionPart(Base):
    """An option, accepted answer, matching pair or ordering item of a question.

    ``kind`` says which: ``choice`` (text, weight, feedback), ``text`` (short answer:
    text, weight, feedback), ``numeric`` (value, tolerance, weight, feedback), ``pair``
    (text = left, right_text, right_id) or ``item`` (text; position = correct order).
    """

    __tablename__ = "question_parts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    question_id: Mapped[str] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    right_text: Mapped[str | None] = mapped_column(Text)
    right_id: Mapped[str | None] = mapped_column(String(32))
    weight: Mapped[float] = mapped_column(Float, default=0.0)
    value: Mapped[float | None] = mapped_column(Float)
    tolerance: Mapped[float | None] = mapped_column(Float)
    feedback: Mapped[str | None] = mapped_column(Text)


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    quiz_id: Mapped[str] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    seed: Mapped[int] = mapped_column(Integer)  # attempts from before order_key (0 since)
    # 256 secret bits that fix the order this attempt shows (services/question_views.py).
    order_key: Mapped[str | None] = mapped_column(String(64))
    question_ids: Mapped[list[str]] = mapped_column(JSON)
    # The questions drawn from the bank: question id -> the draw rule's id (None: none).
    drawn: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column()
    submitted_at: Mapped[datetime | None] = mapped_column()
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    percent: Mapped[float | None] = mapped_column(Float)
    # A live game's attempt (a player's seat): outside max_attempts and the homework
    # leaderboard, inside the report.
    live_game_id: Mapped[str | None] = mapped_column(
        ForeignKey("live_games.id", ondelete="CASCADE"), index=True
    )

    __table_args__ = (
        Index("ix_attempts_quiz_id_user_id", "quiz_id", "user_id"),
        Index("ix_attempts_status_deadline_at", "status", "deadline_at"),
    )


class LiveGame(Base):
    """A live classroom game of a quiz (``services/live``): its questions are drawn once
    for every player; the running state lives in the shared store, ``results`` keeps the
    final leaderboard."""

    __tablename__ = "live_games"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    quiz_id: Mapped[str] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    pin: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16), default="lobby")
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    question_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Response(Base):
    __tablename__ = "responses"

    attempt_id: Mapped[str] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[str] = mapped_column(
        ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    manual_score: Mapped[float | None] = mapped_column(Float)
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_responses_question_id", "question_id"),)


class AIJob(Base):
    """A background AI-draft job: queued, then leased by one worker at a time.

    A worker claims a job by setting a fresh ``lease_token`` and ``lease_expires_at`` and
    renews the lease while it works; a job whose lease has expired is claimed again by
    another worker. Finishing is conditional on still holding the lease, so a job is
    completed once even when two workers have run it."""

    __tablename__ = "ai_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(200))
    quiz_id: Mapped[str | None] = mapped_column(ForeignKey("quizzes.id", ondelete="SET NULL"))
    provider: Mapped[str | None] = mapped_column(String(32))
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_ai_jobs_status_lease_expires_at", "status", "lease_expires_at"),
        Index("ix_ai_jobs_owner_id_created_at", "owner_id", "created_at"),
    )


class AIUsage(Base):
    """One call to an AI provider: what it cost, for accounting and daily quotas."""

    __tablename__ = "ai_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("ai_jobs.id", ondelete="SET NULL"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(24))
    prompt_chars: Mapped[int] = mapped_column(Integer, default=0)
    output_chars: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_ai_usage_user_id_created_at", "user_id", "created_at"),)


__all__ = [
    "AIJob",
    "AIUsage",
    "Attempt",
    "Base",
    "LiveGame",
    "Question",
    "QuestionPart",
    "QuestionTag",
    "Quiz",
    "QuizDraw",
    "QuizTag",
    "Response",
    "Tag",
    "User",
]


class PasswordResetToken(Base):
    """A single-use, expiring password reset; only the SHA-256 of the token is kept."""

    __tablename__ = "password_reset_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class MfaCredential(Base):
    """A user's TOTP secret (pending until confirmed), the last time step used (a code
    is accepted once) and the SHA-256 of each unused recovery code."""

    __tablename__ = "mfa_credentials"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    recovery_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One security-relevant event (``services/audit.py``); append-only."""

    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(40), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_display: Mapped[str | None] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(24))
    target_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
