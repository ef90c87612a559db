"""MCP servers' pinned tool lists, one row per server."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from minibot.adapters.sql.tables import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"


def upgrade() -> None:
    op.create_table(
        "minibot_mcp_pins",
        sa.Column("server", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("tools", sa.Text(), nullable=False),
        sa.Column("approved_at", UtcDateTime(), nullable=False),
        sa.Column("pending_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("pending_tools", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("server", name=op.f("pk_minibot_mcp_pins")),
    )


def downgrade() -> None:
    op.drop_table("minibot_mcp_pins")
