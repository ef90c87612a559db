"""Jobs keep the thread of their chat (a Slack thread, a Telegram topic), so a reminder made
in a thread is delivered to that thread. Jobs made before have none (an empty thread)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    with op.batch_alter_table("minibot_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("thread", sa.String(length=255), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("minibot_jobs", schema=None) as batch_op:
        batch_op.drop_column("thread")
