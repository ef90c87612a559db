"""Dashboard sessions: logins survive a restart and are shared by replicas."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from minibot.adapters.sql.tables import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"


def upgrade() -> None:
    op.create_table(
        "minibot_dashboard_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_minibot_dashboard_sessions")),
    )
    op.create_index(
        op.f("ix_minibot_dashboard_sessions_expires_at"),
        "minibot_dashboard_sessions",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_minibot_dashboard_sessions_expires_at"), table_name="minibot_dashboard_sessions"
    )
    op.drop_table("minibot_dashboard_sessions")
