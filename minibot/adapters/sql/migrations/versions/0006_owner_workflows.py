"""Workflows owners create through `save_workflow`, one row per owner and name."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from minibot.adapters.sql.tables import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.create_table(
        "minibot_owner_workflows",
        sa.Column("owner_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("steps", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "name", name=op.f("pk_minibot_owner_workflows")),
    )


def downgrade() -> None:
    op.drop_table("minibot_owner_workflows")
