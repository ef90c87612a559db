"""The alembic history on SQLite and PostgreSQL: head matches the tables, a model change
without a migration is caught, a database of the release before migrations keeps every row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, String, Table, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from minibot.adapters.sql import schema_migrations as schema
from minibot.adapters.sql import tables
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.core.errors import SchemaBehind
from tests.services import POSTGRES_URL, require_service

T = TypeVar("T")


@dataclass
class Backend:
    url: str
    schema: str | None

    def database(self, *, auto_migrate: bool = True) -> SqlDatabase:
        return SqlDatabase(self.url, schema=self.schema, auto_migrate=auto_migrate)

    async def run(self, operation: Callable[[Connection], T], *, commit: bool = False) -> T:
        args: dict[str, Any] = {}
        if self.schema:
            args["server_settings"] = {"search_path": self.schema}
        engine = create_async_engine(self.url, poolclass=NullPool, connect_args=args)
        try:
            async with engine.connect() as conn:
                result = await conn.run_sync(operation)
                if commit:
                    await conn.commit()
                return result
        finally:
            await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend(f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}", None)
        return
    require_service("postgres")
    name = f"minibot_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        yield Backend(POSTGRES_URL, name)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        await engine.dispose()


def test_the_history_is_one_line_whose_head_the_code_knows() -> None:
    config = Config()
    config.set_main_option("script_location", schema.SCRIPT_LOCATION)
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [schema.head_revision()]
    assert all(len(rev.nextrev) <= 1 for rev in script.walk_revisions())


async def test_a_started_database_is_at_head_and_matches_the_tables(backend: Backend) -> None:
    database = backend.database()
    await database.start()
    await database.stop()
    assert await backend.run(schema.stored_revision) == schema.head_revision()
    assert await backend.run(schema.differences) == []
    # A second start finds the head and migrates nothing.
    database = backend.database(auto_migrate=False)
    await database.start()
    assert database.full_text_search
    await database.stop()


async def test_a_model_change_without_a_migration_fails_the_check(backend: Backend) -> None:
    await backend.run(schema.upgrade, commit=True)
    changed = _copy_of_tables()
    notes = changed.tables["minibot_notes"]
    assert isinstance(notes, Table)
    notes.append_column(Column("mood", String(32)))

    found = await backend.run(lambda conn: schema.differences(conn, changed))

    assert found == ["add_column minibot_notes.mood"]


async def test_a_missing_search_index_fails_the_check(backend: Backend) -> None:
    await backend.run(schema.upgrade, commit=True)
    drop = (
        "DROP TABLE minibot_notes_fts"
        if backend.schema is None
        else "DROP INDEX ix_minibot_notes_fts"
    )
    await backend.run(lambda conn: conn.execute(text(drop)), commit=True)

    found = await backend.run(schema.differences)

    assert found and all("missing full-text" in line for line in found)


async def test_downgrade_to_base_then_upgrade_again(backend: Backend) -> None:
    await backend.run(schema.upgrade, commit=True)
    await backend.run(lambda conn: schema.downgrade(conn, "base"), commit=True)

    assert await backend.run(schema.stored_revision) is None
    left = await backend.run(lambda conn: schema.inspect(conn).get_table_names())
    assert [name for name in left if name.startswith("minibot_")] == []

    await backend.run(schema.upgrade, commit=True)
    assert await backend.run(schema.differences) == []


async def test_auto_migrate_off_refuses_a_schema_that_is_behind(backend: Backend) -> None:
    database = backend.database(auto_migrate=False)
    with pytest.raises(SchemaBehind, match="minibot db upgrade"):
        await database.start()
    assert await backend.run(schema.stored_revision) is None


def _copy_of_tables() -> MetaData:
    copy = MetaData(naming_convention=tables.NAMING_CONVENTION)
    for table in tables.metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


# The release before migrations made its schema with `create_all` and raw DDL, as below.
_OLD_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS minibot_notes_fts USING fts5("
    "title, content, tags, content='minibot_notes', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS minibot_notes_ai AFTER INSERT ON minibot_notes BEGIN "
    "INSERT INTO minibot_notes_fts(rowid, title, content, tags) "
    "VALUES (new.id, new.title, new.content, new.tags); END",
]


# The tables of that release: everything but what later revisions added (the SQL job
# store, the conversation settings, the /voice modes, owners' saved workflows, the
# delivery claims of replicas, dashboard sessions, MCP pins).
_LATER_TABLES = (
    "minibot_job",
    "minibot_conversation_settings",
    "minibot_voice_modes",
    "minibot_owner_workflows",
    "minibot_delivery_claims",
    "minibot_dashboard_sessions",
    "minibot_mcp_pins",
)
_OLD_RELEASE_TABLES = [
    table for table in tables.metadata.sorted_tables if not table.name.startswith(_LATER_TABLES)
]


def _old_release_schema(*, with_origin: bool, with_search: bool) -> Callable[[Connection], None]:
    def build(conn: Connection) -> None:
        tables.metadata.create_all(conn, tables=_OLD_RELEASE_TABLES)
        # Usage rows had no kind or quantity before media (revision 0003).
        conn.execute(text("ALTER TABLE minibot_usage DROP COLUMN kind"))
        conn.execute(text("ALTER TABLE minibot_usage DROP COLUMN quantity"))
        if not with_origin:
            # The notes table of the release before `prov_origin` existed.
            conn.execute(text("DROP INDEX ix_minibot_notes_owner_origin"))
            conn.execute(text("ALTER TABLE minibot_notes DROP COLUMN prov_origin"))
        if with_search and conn.dialect.name == "sqlite":
            for statement in _OLD_SQLITE_FTS:
                conn.execute(text(statement))
        elif with_search:
            conn.execute(
                text(
                    "CREATE INDEX ix_minibot_notes_fts ON minibot_notes "
                    f"USING gin ({tables.PG_NOTE_VECTOR})"
                )
            )

    return build


def _rows_everywhere(conn: Connection) -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    t = tables
    conn.execute(
        t.messages.insert(),
        [
            {
                "conversation": "telegram:1",
                "role": "user",
                "content": f"hello {n}",
                "token_estimate": 2,
                "created_at": now,
            }
            for n in range(3)
        ],
    )
    conn.execute(
        t.conversation_resets.insert(), {"conversation": "telegram:1", "after_id": 1, "at": now}
    )
    conn.execute(
        t.usage.insert(),
        {
            "owner_id": "telegram:1",
            "conversation": "telegram:1",
            "model": "m",
            "prompt_tokens": 1,
            "completion_tokens": 2,
            "cost_usd": 0.5,
            "estimated": False,
            "at": now,
        },
    )
    conn.execute(
        t.usage_days.insert(),
        {
            "owner_id": "telegram:1",
            "day": now,
            "model": "m",
            "requests": 3,
            "prompt_tokens": 4,
            "completion_tokens": 5,
            "cost_usd": 1.5,
        },
    )
    conn.execute(
        t.inbox.insert(),
        {
            "channel": "telegram",
            "external_id": "7",
            "conversation": "telegram:1",
            "payload": "{}",
            "done": False,
            "created_at": now,
        },
    )
    conn.execute(
        t.dead_letters.insert(),
        {
            "channel": "telegram",
            "digest": "ab" * 32,
            "raw": b"\xff",
            "error": "bad",
            "created_at": now,
        },
    )
    conn.execute(t.deliveries.insert(), {"turn_id": "t1", "chunk": 0, "message_id": "9", "at": now})
    conn.execute(t.delivery_failures.insert(), {"turn_id": "t2", "reason": "blocked", "at": now})
    conn.execute(
        t.approvals.insert(),
        {
            "id": "a1",
            "conversation": "telegram:1",
            "owner_id": "telegram:1",
            "speaker_name": "Ann",
            "calls": "[]",
            "asked_at": now,
            "expires_at": now,
            "state": "pending",
        },
    )
    conn.execute(
        text(
            "INSERT INTO minibot_notes (owner_id, title, title_key, content, tags, meta, "
            "created_at, updated_at) VALUES ('telegram:1', 'Boat', 'boat', "
            "'the blue sailboat', '[]', '{}', :now, :now)"
        ),
        {"now": now.replace(tzinfo=None)},
    )


def _counts(conn: Connection) -> dict[str, int]:
    return {
        table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for table in _OLD_RELEASE_TABLES
    }


@pytest.mark.parametrize(
    ("with_origin", "with_search"), [(True, True), (False, True), (False, False)]
)
async def test_a_database_of_the_release_before_migrations_is_taken_over_with_every_row(
    backend: Backend, with_origin: bool, with_search: bool
) -> None:
    await backend.run(
        _old_release_schema(with_origin=with_origin, with_search=with_search), commit=True
    )
    await backend.run(_rows_everywhere, commit=True)
    before = await backend.run(_counts)
    assert all(before.values()), before
    assert await backend.run(schema.made_before_migrations)

    database = backend.database()
    await database.start()
    try:
        found = await SqlNoteStore(database).search("telegram:1", "sailboat")
    finally:
        await database.stop()

    assert [note.title for note in found] == ["Boat"]
    assert await backend.run(_counts) == before
    assert await backend.run(schema.stored_revision) == schema.head_revision()
    assert await backend.run(schema.differences) == []


def _schema_objects(conn: Connection) -> set[tuple[str, ...]]:
    """What a database holds beyond its tables' columns: every object's kind and name, the
    full-text objects' definitions (SQLite) and every index's definition (PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            text("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        )
        found: set[tuple[str, ...]] = set()
        for kind, name, sql in rows:
            if kind == "trigger" or name == tables.NOTES_FTS:
                sql = " ".join((sql or "").replace("IF NOT EXISTS ", "").split())
            else:
                sql = ""  # CREATE TABLE text differs in layout only; `differences` compares
            found.add((kind, name, sql))
        return found
    rows = conn.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
    )
    return {(name, definition.split(" ON ", 1)[1]) for name, definition in rows}


async def test_a_fresh_database_made_at_the_head_is_the_one_the_migrations_make(
    backend: Backend,
) -> None:
    database = backend.database()
    await database.start()  # an empty database: made at the head without alembic
    await database.stop()
    assert await backend.run(schema.stored_revision) == schema.head_revision()
    assert await backend.run(schema.differences) == []
    fresh = await backend.run(_schema_objects)

    await backend.run(lambda conn: schema.downgrade(conn, "base"), commit=True)
    await backend.run(schema.upgrade, commit=True)

    assert await backend.run(_schema_objects) == fresh


async def test_jobs_made_before_threads_keep_every_row_with_no_thread(backend: Backend) -> None:
    await backend.run(lambda conn: schema.upgrade(conn, "0002"), commit=True)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    row = {
        "id": "1",
        "owner_id": "telegram:7",
        "channel": "telegram",
        "chat_id": "42",
        "action_kind": "remind",
        "text": "water the plants",
        "schedule_kind": "once",
        "schedule_tz": "UTC",
        "schedule_at": moment,
        "state": "scheduled",
        "next_run_at": moment,
        "occurrence": moment,
        "on_missed": "run_once",
        "notify": "always",
        "attempts": 0,
        "created_at": moment,
        "updated_at": moment,
    }
    # Only the columns named are written: the table at 0002 has no thread yet.
    await backend.run(lambda conn: conn.execute(tables.jobs.insert(), row), commit=True)

    await backend.run(schema.upgrade, commit=True)

    [stored] = await backend.run(lambda conn: conn.execute(select(tables.jobs)).all())
    assert (stored.channel, stored.chat_id, stored.thread) == ("telegram", "42", "")
    assert await backend.run(schema.differences) == []
