"""The SQL schema of every memory table: the one description migrations are checked against."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (SQLite keeps none) and always returns aware UTC times."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a BIGINT one.
Id = BigInteger().with_variant(Integer(), "sqlite")

# Constraints and indexes get predictable names, so a later migration can drop or alter them
# by name on both backends (SQLite's batch mode recreates a table and needs the names).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

messages = Table(
    "minibot_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("tool_calls", Text),  # JSON list of {id, name, arguments}
    Column("tool_call_id", String(255)),
    Column("meta", Text),  # JSON object of strings
    Column("token_estimate", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The window query reads one conversation's newest rows: (conversation, id DESC).
    Index("ix_minibot_messages_conversation_id", "conversation", "id"),
)

# `clear` records a reset marker instead of deleting, so history stays for audit and export.
conversation_resets = Table(
    "minibot_conversation_resets",
    metadata,
    Column("conversation", String(255), primary_key=True),
    Column("after_id", BigInteger, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

usage = Table(
    "minibot_usage",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_id", String(255), nullable=False),
    Column("conversation", String(255), nullable=False),
    Column("model", String(255), nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("estimated", Boolean, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    # What the row paid for (core/usage.UsageKind) and how much of it: seconds of audio
    # for transcription and speech, images for an image; 0 for a chat request.
    Column("kind", String(16), nullable=False, server_default="chat"),
    Column("quantity", Float, nullable=False, server_default="0"),
    Index("ix_minibot_usage_owner_at", "owner_id", "at"),
)

# Each conversation's /voice mode (off when it has no row).
voice_modes = Table(
    "minibot_voice_modes",
    metadata,
    Column("conversation", String(255), primary_key=True),
    Column("mode", String(8), nullable=False),
)

# Usage rows older than the retention, summed per owner, UTC day and model: `/usage`
# totals stay the same while the per-request rows are deleted.
usage_days = Table(
    "minibot_usage_days",
    metadata,
    Column("owner_id", String(255), primary_key=True),
    Column("day", UtcDateTime, primary_key=True),  # midnight UTC
    Column("model", String(255), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
)

inbox = Table(
    "minibot_inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("conversation", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime),
    UniqueConstraint("channel", "external_id", name="uq_minibot_inbox_channel_external"),
    Index("ix_minibot_inbox_pending", "channel", "done", "id"),
)

# Updates a channel could not store or read, kept as received with the reason, so they can
# be confirmed to the platform without being lost (any channel; see Inbox.set_aside).
dead_letters = Table(
    "minibot_dead_letters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    # sha256 of `raw`: an update delivered again is kept once.
    Column("digest", String(64), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "digest", name="uq_minibot_dead_letters_channel_digest"),
)

deliveries = Table(
    "minibot_deliveries",
    metadata,
    Column("turn_id", String(255), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("message_id", String(255), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

# Tool calls held for the speaker's approval (minibot/core/approval.py), until decided.
approvals = Table(
    "minibot_approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation", String(255), nullable=False),
    Column("owner_id", String(255), nullable=False),
    Column("speaker_name", String(255), nullable=False),
    Column("calls", Text, nullable=False),  # JSON list of {id, name, arguments}
    Column("message_id", String(255)),
    Column("asked_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("decided_turn", String(255)),
    Column("decided_at", UtcDateTime),
    Index("ix_minibot_approvals_state_expires", "state", "expires_at"),
)

# Chunks claimed by a sender right before it sends them (replicas delivering the same
# turn): who holds each and until when; a chunk recorded in minibot_deliveries is sent.
delivery_claims = Table(
    "minibot_delivery_claims",
    metadata,
    Column("turn_id", String(255), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

# Replies given up for good (the bot blocked, the chat gone): kept to be seen, not retried.
delivery_failures = Table(
    "minibot_delivery_failures",
    metadata,
    Column("turn_id", String(255), primary_key=True),
    Column("reason", String(1000), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

notes = Table(
    "minibot_notes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_id", String(255), nullable=False),
    Column("title", String(1000), nullable=False),
    Column("title_key", String(1000), nullable=False),  # casefolded, spaces collapsed
    Column("content", Text, nullable=False),
    Column("tags", Text, nullable=False),  # JSON list; plain text so full-text can index it
    Column("meta", Text, nullable=False),  # JSON object
    Column("prov_conversation", String(255)),
    Column("prov_message_id", String(255)),
    Column("prov_tool_call_id", String(255)),
    Column("prov_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The tool call (turn id, tool, n-th call) that saved it: a turn run again finds it.
    Column("prov_origin", String(512)),
    UniqueConstraint("owner_id", "title_key", name="uq_minibot_notes_owner_title"),
    Index("ix_minibot_notes_owner_updated", "owner_id", "updated_at"),
    Index("ix_minibot_notes_owner_origin", "owner_id", "prov_origin"),
)

# Scheduled jobs (minibot/core/jobs.py), one row each; `claimed_by` and `lease_until` name
# the process running it and until when its claim holds, so several processes may share
# the table and a claim whose process died is taken over (see adapters/sql/job_store.py).
jobs = Table(
    "minibot_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("chat_id", String(255), nullable=False),
    # The thread in that chat (a Slack thread, a Telegram topic); empty for none.
    Column("thread", String(255), nullable=False, server_default=""),
    Column("action_kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("schedule_kind", String(16), nullable=False),  # once, interval, cron
    Column("schedule_tz", String(64), nullable=False),
    Column("schedule_at", UtcDateTime),  # once: when; interval: its start
    Column("schedule_every_seconds", Integer),
    Column("schedule_cron", String(255)),
    Column("state", String(16), nullable=False),
    Column("next_run_at", UtcDateTime),
    Column("occurrence", UtcDateTime),
    Column("on_missed", String(16), nullable=False),
    Column("notify", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("origin", String(512)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(255)),
    Column("lease_until", UtcDateTime),
    Column("model_alias", String(64)),  # a prompt's own model (None: the conversation's)
    # Claims and start-up read scheduled jobs by next run, running ones by lease.
    Index("ix_minibot_jobs_state_next_run", "state", "next_run_at"),
    Index("ix_minibot_jobs_owner", "owner_id"),
    Index("ix_minibot_jobs_origin", "origin"),
)

# The run ledger: one row per occurrence of a job, open while running, then one outcome.
job_runs = Table(
    "minibot_job_runs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("occurrence", UtcDateTime, primary_key=True),
    Column("outcome", String(16)),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("through", UtcDateTime),
)

job_timezones = Table(
    "minibot_job_timezones",
    metadata,
    Column("owner_id", String(255), primary_key=True),
    Column("tz", String(64), nullable=False),
)

# The last job id handed out (one row, name "jobs"): ids stay short decimal numbers,
# never repeated, whichever process asks.
job_ids = Table(
    "minibot_job_ids",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)

# Objects the migrations make beside these tables, which autogenerate cannot see: the SQLite
# external-content FTS5 index over notes (a virtual table, its shadow tables and triggers)
# and the PostgreSQL GIN index over PG_NOTE_VECTOR.
NOTES_FTS = "minibot_notes_fts"
NOTES_FTS_TRIGGERS = ("minibot_notes_ai", "minibot_notes_ad", "minibot_notes_au")
PG_NOTES_FTS_INDEX = "ix_minibot_notes_fts"

# The weighted document vector of a note on PostgreSQL; the index and queries must match it.
PG_NOTE_VECTOR = (
    "(setweight(to_tsvector('simple', title), 'A') || "
    "setweight(to_tsvector('simple', tags), 'B') || "
    "setweight(to_tsvector('simple', content), 'D'))"
)

# The full-text objects as the head revision has them, for a database made fresh at the head
# without alembic (see schema_migrations.create_at_head); the migrations keep frozen copies,
# and tests/adapters/sql/test_migrations.py checks both ways make the same schema.
SQLITE_NOTES_FTS = (
    f"CREATE VIRTUAL TABLE {NOTES_FTS} USING fts5("
    "title, content, tags, content='minibot_notes', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER minibot_notes_ai AFTER INSERT ON minibot_notes BEGIN "
    f"INSERT INTO {NOTES_FTS}(rowid, title, content, tags) "
    "VALUES (new.id, new.title, new.content, new.tags); END",
    "CREATE TRIGGER minibot_notes_ad AFTER DELETE ON minibot_notes BEGIN "
    f"INSERT INTO {NOTES_FTS}({NOTES_FTS}, rowid, title, content, tags) "
    "VALUES ('delete', old.id, old.title, old.content, old.tags); END",
    "CREATE TRIGGER minibot_notes_au AFTER UPDATE ON minibot_notes BEGIN "
    f"INSERT INTO {NOTES_FTS}({NOTES_FTS}, rowid, title, content, tags) "
    "VALUES ('delete', old.id, old.title, old.content, old.tags); "
    f"INSERT INTO {NOTES_FTS}(rowid, title, content, tags) "
    "VALUES (new.id, new.title, new.content, new.tags); END",
)
PG_NOTES_FTS = f"CREATE INDEX {PG_NOTES_FTS_INDEX} ON minibot_notes USING gin ({PG_NOTE_VECTOR})"

# Each conversation's own choices (/model, /busy) and its history's summary: one row per
# conversation that chose anything; no row means the defaults.
conversation_settings = Table(
    "minibot_conversation_settings",
    metadata,
    Column("conversation", String(255), primary_key=True),
    Column("model_alias", String(64)),
    Column("busy_policy", String(16)),
    Column("summary", Text),
    Column("summary_through_id", BigInteger),
    Column("summary_tokens", Integer),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Workflows an owner created with `save_workflow` (config's `[workflows.<name>]` are not
# stored): one row per owner and name, the steps as a JSON list of plain values.
owner_workflows = Table(
    "minibot_owner_workflows",
    metadata,
    Column("owner_id", String(255), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False),
    Column("steps", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Dashboard logins (the control plane's session cookies): the cookie's value only as its
# SHA-256 (`core/dashboard_sessions.py`), so a copy of the table logs nobody in.
dashboard_sessions = Table(
    "minibot_dashboard_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)

# MCP servers' approved tool lists (`minibot mcp approve`, `/mcp approve`): one row per
# configured server, the tools as JSON (names, descriptions, schemas); a list the server
# now offers instead waits in the pending columns until approved.
mcp_pins = Table(
    "minibot_mcp_pins",
    metadata,
    Column("server", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("tools", Text, nullable=False),
    Column("approved_at", UtcDateTime, nullable=False),
    Column("pending_fingerprint", String(64)),
    Column("pending_tools", Text),
)
