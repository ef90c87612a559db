"""The SQL job store: jobs (with their claim and lease), the run ledger, owners' time zones
and the id counter."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from minibot.adapters.sql.tables import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    op.create_table(
        "minibot_job_ids",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_minibot_job_ids")),
    )
    op.create_table(
        "minibot_job_runs",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("occurrence", UtcDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("through", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "occurrence", name=op.f("pk_minibot_job_runs")),
    )
    op.create_table(
        "minibot_job_timezones",
        sa.Column("owner_id", sa.String(length=255), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_minibot_job_timezones")),
    )
    op.create_table(
        "minibot_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("action_kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("schedule_kind", sa.String(length=16), nullable=False),
        sa.Column("schedule_tz", sa.String(length=64), nullable=False),
        sa.Column("schedule_at", UtcDateTime(), nullable=True),
        sa.Column("schedule_every_seconds", sa.Integer(), nullable=True),
        sa.Column("schedule_cron", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_run_at", UtcDateTime(), nullable=True),
        sa.Column("occurrence", UtcDateTime(), nullable=True),
        sa.Column("on_missed", sa.String(length=16), nullable=False),
        sa.Column("notify", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=512), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("lease_until", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_minibot_jobs")),
    )
    with op.batch_alter_table("minibot_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_minibot_jobs_origin", ["origin"], unique=False)
        batch_op.create_index("ix_minibot_jobs_owner", ["owner_id"], unique=False)
        batch_op.create_index(
            "ix_minibot_jobs_state_next_run", ["state", "next_run_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("minibot_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_minibot_jobs_state_next_run")
        batch_op.drop_index("ix_minibot_jobs_owner")
        batch_op.drop_index("ix_minibot_jobs_origin")

    op.drop_table("minibot_jobs")
    op.drop_table("minibot_job_timezones")
    op.drop_table("minibot_job_runs")
    op.drop_table("minibot_job_ids")
