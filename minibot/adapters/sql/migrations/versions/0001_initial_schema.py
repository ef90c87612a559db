"""The schema of the release that introduced migrations: every memory table, notes search.

A database made before migrations (by `create_all`, without a version table) is taken over
here too: only what it lacks is created (a table added since it was made, the notes'
`prov_origin` and its index, the full-text index, filled from the notes already there), and
no row is touched.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None

# Frozen copies: a later change to tables.py needs a migration of its own.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PG_NOTE_VECTOR = (
    "(setweight(to_tsvector('simple', title), 'A') || "
    "setweight(to_tsvector('simple', tags), 'B') || "
    "setweight(to_tsvector('simple', content), 'D'))"
)
_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS minibot_notes_fts USING fts5("
    "title, content, tags, content='minibot_notes', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS minibot_notes_ai AFTER INSERT ON minibot_notes BEGIN "
    "INSERT INTO minibot_notes_fts(rowid, title, content, tags) "
    "VALUES (new.id, new.title, new.content, new.tags); END",
    "CREATE TRIGGER IF NOT EXISTS minibot_notes_ad AFTER DELETE ON minibot_notes BEGIN "
    "INSERT INTO minibot_notes_fts(minibot_notes_fts, rowid, title, content, tags) "
    "VALUES ('delete', old.id, old.title, old.content, old.tags); END",
    "CREATE TRIGGER IF NOT EXISTS minibot_notes_au AFTER UPDATE ON minibot_notes BEGIN "
    "INSERT INTO minibot_notes_fts(minibot_notes_fts, rowid, title, content, tags) "
    "VALUES ('delete', old.id, old.title, old.content, old.tags); "
    "INSERT INTO minibot_notes_fts(rowid, title, content, tags) "
    "VALUES (new.id, new.title, new.content, new.tags); END",
]
_INDEXES = [
    ("ix_minibot_messages_conversation_id", "minibot_messages", ["conversation", "id"]),
    ("ix_minibot_usage_owner_at", "minibot_usage", ["owner_id", "at"]),
    ("ix_minibot_inbox_pending", "minibot_inbox", ["channel", "done", "id"]),
    ("ix_minibot_approvals_state_expires", "minibot_approvals", ["state", "expires_at"]),
    ("ix_minibot_notes_owner_updated", "minibot_notes", ["owner_id", "updated_at"]),
    ("ix_minibot_notes_owner_origin", "minibot_notes", ["owner_id", "prov_origin"]),
]


def _tables() -> list[tuple[str, list[Any]]]:
    string = sa.String
    at = sa.DateTime
    return [
        (
            "minibot_messages",
            [
                sa.Column("id", _ID, primary_key=True, autoincrement=True),
                sa.Column("conversation", string(255), nullable=False),
                sa.Column("role", string(16), nullable=False),
                sa.Column("content", sa.Text(), nullable=False),
                sa.Column("tool_calls", sa.Text()),
                sa.Column("tool_call_id", string(255)),
                sa.Column("meta", sa.Text()),
                sa.Column("token_estimate", sa.Integer(), nullable=False),
                sa.Column("created_at", at(), nullable=False),
            ],
        ),
        (
            "minibot_conversation_resets",
            [
                sa.Column("conversation", string(255), primary_key=True),
                sa.Column("after_id", sa.BigInteger(), nullable=False),
                sa.Column("at", at(), nullable=False),
            ],
        ),
        (
            "minibot_usage",
            [
                sa.Column("id", _ID, primary_key=True, autoincrement=True),
                sa.Column("owner_id", string(255), nullable=False),
                sa.Column("conversation", string(255), nullable=False),
                sa.Column("model", string(255), nullable=False),
                sa.Column("prompt_tokens", sa.Integer(), nullable=False),
                sa.Column("completion_tokens", sa.Integer(), nullable=False),
                sa.Column("cost_usd", sa.Float(), nullable=False),
                sa.Column("estimated", sa.Boolean(), nullable=False),
                sa.Column("at", at(), nullable=False),
            ],
        ),
        (
            "minibot_usage_days",
            [
                sa.Column("owner_id", string(255), primary_key=True),
                sa.Column("day", at(), primary_key=True),
                sa.Column("model", string(255), primary_key=True),
                sa.Column("requests", sa.BigInteger(), nullable=False),
                sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
                sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
                sa.Column("cost_usd", sa.Float(), nullable=False),
            ],
        ),
        (
            "minibot_inbox",
            [
                sa.Column("id", _ID, primary_key=True, autoincrement=True),
                sa.Column("channel", string(64), nullable=False),
                sa.Column("external_id", string(255), nullable=False),
                sa.Column("conversation", string(255), nullable=False),
                sa.Column("payload", sa.Text(), nullable=False),
                sa.Column("done", sa.Boolean(), nullable=False),
                sa.Column("created_at", at(), nullable=False),
                sa.Column("done_at", at()),
                sa.UniqueConstraint(
                    "channel", "external_id", name="uq_minibot_inbox_channel_external"
                ),
            ],
        ),
        (
            "minibot_dead_letters",
            [
                sa.Column("id", _ID, primary_key=True, autoincrement=True),
                sa.Column("channel", string(64), nullable=False),
                sa.Column("digest", string(64), nullable=False),
                sa.Column("raw", sa.LargeBinary(), nullable=False),
                sa.Column("error", sa.Text(), nullable=False),
                sa.Column("created_at", at(), nullable=False),
                sa.UniqueConstraint(
                    "channel", "digest", name="uq_minibot_dead_letters_channel_digest"
                ),
            ],
        ),
        (
            "minibot_deliveries",
            [
                sa.Column("turn_id", string(255), primary_key=True),
                sa.Column("chunk", sa.Integer(), primary_key=True),
                sa.Column("message_id", string(255), nullable=False),
                sa.Column("at", at(), nullable=False),
            ],
        ),
        (
            "minibot_approvals",
            [
                sa.Column("id", string(32), primary_key=True),
                sa.Column("conversation", string(255), nullable=False),
                sa.Column("owner_id", string(255), nullable=False),
                sa.Column("speaker_name", string(255), nullable=False),
                sa.Column("calls", sa.Text(), nullable=False),
                sa.Column("message_id", string(255)),
                sa.Column("asked_at", at(), nullable=False),
                sa.Column("expires_at", at(), nullable=False),
                sa.Column("state", string(16), nullable=False),
                sa.Column("decided_turn", string(255)),
                sa.Column("decided_at", at()),
            ],
        ),
        (
            "minibot_delivery_failures",
            [
                sa.Column("turn_id", string(255), primary_key=True),
                sa.Column("reason", string(1000), nullable=False),
                sa.Column("at", at(), nullable=False),
            ],
        ),
        (
            "minibot_notes",
            [
                sa.Column("id", _ID, primary_key=True, autoincrement=True),
                sa.Column("owner_id", string(255), nullable=False),
                sa.Column("title", string(1000), nullable=False),
                sa.Column("title_key", string(1000), nullable=False),
                sa.Column("content", sa.Text(), nullable=False),
                sa.Column("tags", sa.Text(), nullable=False),
                sa.Column("meta", sa.Text(), nullable=False),
                sa.Column("prov_conversation", string(255)),
                sa.Column("prov_message_id", string(255)),
                sa.Column("prov_tool_call_id", string(255)),
                sa.Column("prov_at", at()),
                sa.Column("created_at", at(), nullable=False),
                sa.Column("updated_at", at(), nullable=False),
                sa.Column("prov_origin", string(512)),
                sa.UniqueConstraint("owner_id", "title_key", name="uq_minibot_notes_owner_title"),
            ],
        ),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, items in _tables():
        if not inspector.has_table(name):
            op.create_table(name, *items)
    # The release before stored no tool-call origin with a note.
    if "prov_origin" not in {c["name"] for c in inspector.get_columns("minibot_notes")}:
        op.add_column("minibot_notes", sa.Column("prov_origin", sa.String(512)))
    existing: set[str | None] = set()
    for table in {table for _, table, _ in _INDEXES}:
        existing.update(index["name"] for index in inspector.get_indexes(table))
    for index, table, columns in _INDEXES:
        if index not in existing:
            op.create_index(index, table, columns)
    _create_search()


def _create_search() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_minibot_notes_fts ON minibot_notes "
            f"USING gin ({_PG_NOTE_VECTOR})"
        )
        return
    if bind.dialect.name != "sqlite":
        return
    existed = sa.inspect(bind).has_table("minibot_notes_fts")
    try:
        for statement in _SQLITE_FTS:
            op.execute(statement)
    except sa.exc.OperationalError:
        # An SQLite built without FTS5: notes are searched by the portable ranking.
        # (A failed statement leaves SQLite's transaction as it was.)
        return
    if not existed:
        # Notes written before the index existed must be indexed too.
        op.execute("INSERT INTO minibot_notes_fts(minibot_notes_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("minibot_notes_ai", "minibot_notes_ad", "minibot_notes_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS minibot_notes_fts")
    for index, table, _ in reversed(_INDEXES):
        op.drop_index(index, table_name=table)
    # The GIN index goes with its table on PostgreSQL.
    for name, _ in reversed(_tables()):
        op.drop_table(name)
