"""Chunks claimed with a lease before they are sent, so two replicas never send one."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from minibot.adapters.sql.tables import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"


def upgrade() -> None:
    op.create_table(
        "minibot_delivery_claims",
        sa.Column("turn_id", sa.String(length=255), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("turn_id", "chunk", name=op.f("pk_minibot_delivery_claims")),
    )


def downgrade() -> None:
    op.drop_table("minibot_delivery_claims")
