"""An append-only audit log of security-relevant events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# On PostgreSQL the table refuses UPDATE and DELETE, except the retention purge's DELETE
# (SET LOCAL quiz.audit_purge = 'on') and an erasure's blanking of a person's name and
# address (SET LOCAL quiz.audit_erase = 'on'), each in its own transaction.
_GUARD = (
    """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('quiz.audit_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND current_setting('quiz.audit_erase', true) = 'on'
     AND NEW.event = OLD.event AND NEW.occurred_at = OLD.occurred_at
     AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
     AND NEW.target_id IS NOT DISTINCT FROM OLD.target_id THEN
    RETURN NEW;  -- a user's erasure blanks their name and address, nothing else
  END IF;
  RAISE EXCEPTION 'audit_events is append-only';
END $$
""",
    """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
""",
)


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=True),
        sa.Column("actor_display", sa.String(length=100), nullable=True),
        sa.Column("target_type", sa.String(length=24), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    for column in ("occurred_at", "event", "actor_id", "target_id"):
        op.create_index(op.f(f"ix_audit_events_{column}"), "audit_events", [column])
    if op.get_bind().dialect.name == "postgresql":
        for statement in _GUARD:  # one statement each (asyncpg prepares them)
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_table("audit_events")
