"""Conversation settings (each conversation's model alias, busy policy and history
summary), and a scheduled prompt's own model alias."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from minibot.adapters.sql.tables import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.create_table(
        "minibot_conversation_settings",
        sa.Column("conversation", sa.String(length=255), nullable=False),
        sa.Column("model_alias", sa.String(length=64), nullable=True),
        sa.Column("busy_policy", sa.String(length=16), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("summary_through_id", sa.BigInteger(), nullable=True),
        sa.Column("summary_tokens", sa.Integer(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("conversation", name=op.f("pk_minibot_conversation_settings")),
    )
    with op.batch_alter_table("minibot_jobs") as batch:
        batch.add_column(sa.Column("model_alias", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("minibot_jobs") as batch:
        batch.drop_column("model_alias")
    op.drop_table("minibot_conversation_settings")
