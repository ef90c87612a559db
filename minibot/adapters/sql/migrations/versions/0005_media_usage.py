"""Media: what each usage row paid for (kind, quantity), and each conversation's /voice mode."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    with op.batch_alter_table("minibot_usage", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="chat")
        )
        batch_op.add_column(sa.Column("quantity", sa.Float(), nullable=False, server_default="0"))
    op.create_table(
        "minibot_voice_modes",
        sa.Column("conversation", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("conversation", name=op.f("pk_minibot_voice_modes")),
    )


def downgrade() -> None:
    op.drop_table("minibot_voice_modes")
    with op.batch_alter_table("minibot_usage", schema=None) as batch_op:
        batch_op.drop_column("quantity")
        batch_op.drop_column("kind")
