"""`minibot db upgrade|current|check|downgrade`: the schema of every configured database."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from minibot.adapters.config.schema import Settings
from minibot.adapters.sql import schema_migrations as schema
from minibot.core.errors import SchemaBehind

T = TypeVar("T")


def databases(settings: Settings) -> list[tuple[str, str]]:
    """(section, url) of each database: `[memory]`, and `[kv_memory]` when the notes live
    in one of their own. Both carry the whole schema, so one history serves both."""
    found = [("memory", settings.memory.url)]
    kv = settings.kv_memory
    if kv.enabled and kv.url and kv.url != settings.memory.url:
        found.append(("kv_memory", kv.url))
    return found


async def on_database(url: str, operation: Callable[[Connection], T], *, commit: bool) -> T:
    """Runs `operation` on a connection of its own (the async engine, `run_sync`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.run_sync(operation)
            if commit:
                await conn.commit()
            return result
    finally:
        await engine.dispose()


async def upgrade(settings: Settings) -> tuple[int, list[str]]:
    lines = []
    for section, url in databases(settings):
        await on_database(url, schema.upgrade, commit=True)
        lines.append(f"{section}: upgraded to {schema.head_revision()} (head)")
    return 0, lines


async def downgrade(settings: Settings, revision: str) -> tuple[int, list[str]]:
    lines = []
    for section, url in databases(settings):
        migrate = functools.partial(schema.downgrade, revision=revision)
        await on_database(url, migrate, commit=True)
        now = await on_database(url, _revision_text, commit=False)
        lines.append(f"{section}: downgraded to {now}")
    return 0, lines


async def current(settings: Settings) -> tuple[int, list[str]]:
    lines = []
    for section, url in databases(settings):
        lines.append(f"{section}: {await on_database(url, _revision_text, commit=False)}")
    return 0, lines


async def check(settings: Settings) -> tuple[int, list[str]]:
    """Exit 0 when every database is at the head and matches the tables in code;
    otherwise 1, with one line per difference."""
    code, lines = 0, list[str]()
    for section, url in databases(settings):
        problems = await on_database(url, _problems, commit=False)
        if problems:
            code = 1
            lines.extend(f"{section}: {problem}" for problem in problems)
        else:
            lines.append(
                f"{section}: the schema matches the code (revision {schema.head_revision()})"
            )
    return code, lines


async def refusal(settings: Settings) -> str | None:
    """Why the daemon must not start with `[memory] auto_migrate = false`, or None."""
    for section, url in databases(settings):
        prepare = functools.partial(schema.prepare, migrate=False)
        try:
            await on_database(url, prepare, commit=False)
        except SchemaBehind as exc:
            return f"{section}: {exc}"
    return None


def _revision_text(conn: Connection) -> str:
    revision = schema.stored_revision(conn)
    head = schema.head_revision()
    state = "head" if revision == head else f"not head; the head is {head}"
    return f"{schema.describe(revision, conn)} ({state})"


def _problems(conn: Connection) -> list[str]:
    revision = schema.stored_revision(conn)
    head = schema.head_revision()
    if revision != head:
        return [f"at {schema.describe(revision, conn)}, not the head {head}: {schema.UPGRADE_HINT}"]
    return schema.differences(conn)
