"""`minibot export --user ID`: one person's history, notes, jobs and usage as JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, create_engine, inspect, select
from sqlalchemy.engine import make_url

from minibot.adapters.config.schema import Settings
from minibot.adapters.files.store_copy import opened_copy
from minibot.adapters.sql import tables
from minibot.adapters.sql.job_rows import job_from_row, run_from_row
from minibot.core.jobs import Job
from minibot.core.speakers import SPEAKER

T = TypeVar("T")
FORMAT = "minibot-export/1"
# Columns holding JSON text, exported as the values they hold.
_JSON_COLUMNS = frozenset({"meta", "tool_calls", "tags", "calls"})


async def export_user(settings: Settings, owner_id: str) -> dict[str, Any]:
    """Everything kept for `owner_id`, from every table that holds it (read while the
    daemon runs: SQLite is read in WAL mode, the job store from a private copy).

    A conversation's messages are theirs when they spoke in it: in a group (messages
    marked with speakers) only the messages of their own turns, in a one-on-one chat
    all of them, with its stored inbox items. Delivery records and dead letters are
    kept by turn and platform ids, not by person, and are not exported."""
    memory_url = settings.memory.url
    notes_url = settings.kv_memory.url or memory_url
    notes = await _read(notes_url, lambda conn: _rows(conn, tables.notes, owner_id))
    noted_in = {row["prov_conversation"] for row in notes if row.get("prov_conversation")}
    export = await _read(memory_url, lambda conn: _memory_rows(conn, owner_id, noted_in))
    sch = settings.scheduler
    if sch.store == "sql":
        jobs, timezone = await _read(
            sch.url or memory_url, lambda conn: _sql_jobs(conn, owner_id, sch.timezone)
        )
    else:
        jobs, timezone = await _jobs(Path(sch.store_path), owner_id)
    return {
        "format": FORMAT,
        "owner_id": owner_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "timezone": timezone,
        **export,
        "notes": notes,
        "jobs": jobs,
    }


def render(export: dict[str, Any]) -> str:
    return json.dumps(export, ensure_ascii=False, indent=1) + "\n"


def _memory_rows(conn: Connection, owner_id: str, noted_in: set[str]) -> dict[str, Any]:
    usage = _rows(conn, tables.usage, owner_id)
    approvals = _rows(conn, tables.approvals, owner_id)
    spoken_in = {row["conversation"] for row in [*usage, *approvals]} | noted_in
    spoken_in |= _conversations_with_speaker(conn, owner_id)
    conversations: dict[str, list[dict[str, Any]]] = {}
    one_on_one: list[str] = []
    for key in sorted(spoken_in):
        messages = _where(conn, tables.messages, tables.messages.c.conversation == key)
        if any(SPEAKER in (m["meta"] or {}) for m in messages):
            messages = [m for m in messages if (m["meta"] or {}).get(SPEAKER) == owner_id]
        else:
            one_on_one.append(key)
        if messages:
            conversations[key] = messages
    return {
        "conversations": conversations,
        "conversation_resets": _where(
            conn,
            tables.conversation_resets,
            tables.conversation_resets.c.conversation.in_(one_on_one),
        ),
        "inbox": _where(conn, tables.inbox, tables.inbox.c.conversation.in_(one_on_one)),
        # A one-on-one conversation's model, busy policy and the summary of its history.
        "conversation_settings": _where(
            conn,
            tables.conversation_settings,
            tables.conversation_settings.c.conversation.in_(one_on_one),
        ),
        "usage": usage,
        "usage_days": _rows(conn, tables.usage_days, owner_id),
        "approvals": approvals,
    }


def _conversations_with_speaker(conn: Connection, owner_id: str) -> set[str]:
    """Group conversations in which `owner_id` spoke (their id in a message's speaker mark)."""
    if not _exists(conn, tables.messages):
        return set()
    m = tables.messages.c
    # The LIKE only narrows the scan; the JSON is checked exactly below.
    candidates = conn.execute(
        select(m.conversation, m.meta).where(m.meta.contains(owner_id, autoescape=True))
    )
    return {
        conversation for conversation, meta in candidates if _decoded(meta).get(SPEAKER) == owner_id
    }


def _rows(conn: Connection, table: Table, owner_id: str) -> list[dict[str, Any]]:
    return _where(conn, table, table.c.owner_id == owner_id)


def _where(conn: Connection, table: Table, condition: Any) -> list[dict[str, Any]]:
    if not _exists(conn, table):
        return []
    result = conn.execute(select(table).where(condition).order_by(*table.primary_key.columns))
    return [_row(dict(row._mapping)) for row in result]


def _exists(conn: Connection, table: Table) -> bool:
    return inspect(conn).has_table(table.name)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if key in _JSON_COLUMNS and isinstance(value, str):
            value = _decoded(value, keep=value)
        out[key] = plain(value)
    return out


def _decoded(text: str | None, keep: Any = None) -> Any:
    if not text:
        return {} if keep is None else keep
    try:
        return json.loads(text)
    except ValueError:
        return {} if keep is None else keep


async def _read(url: str, operation: Callable[[Connection], T]) -> T:
    """Runs `operation` on one read-only connection to the database at `url`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return await asyncio.to_thread(_read_sqlite, parsed.database or "", operation)
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(parsed)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(operation)
    finally:
        await engine.dispose()


def _read_sqlite(database: str, operation: Callable[[Connection], T]) -> T:
    path = Path(database)
    # Read-only, so a wrong path is not created as an empty database.
    target = f"{path.resolve().as_uri()}?mode=ro" if path.is_file() else "file::memory:"
    engine = create_engine("sqlite://", creator=lambda: _connect(target))
    try:
        with engine.connect() as conn:
            return operation(conn)
    finally:
        engine.dispose()


def _connect(target: str) -> sqlite3.Connection:
    return sqlite3.connect(target, uri=True, timeout=30, check_same_thread=False)


async def _jobs(directory: Path, owner_id: str) -> tuple[list[dict[str, Any]], str | None]:
    async with opened_copy(directory) as store:
        if store is None:
            return [], None
        jobs = await store.list_jobs(owner_id, include_finished=True)
        out = [{**plain(job), "runs": plain(await store.runs(job.id))} for job in jobs]
        return out, await store.get_timezone(owner_id)


def _sql_jobs(
    conn: Connection, owner_id: str, default_timezone: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The owner's jobs (finished ones too) with their ledgers, and their time zone,
    from the SQL job store's tables: the same shape as from the file store."""
    if not _exists(conn, tables.jobs):
        return [], None
    query = select(tables.jobs).where(tables.jobs.c.owner_id == owner_id)
    jobs = sorted((job_from_row(row) for row in conn.execute(query)), key=Job.soonest_first)
    out = []
    for job in jobs:
        runs = tables.job_runs
        ledger = conn.execute(
            select(runs).where(runs.c.job_id == job.id).order_by(runs.c.occurrence)
        )
        out.append({**plain(job), "runs": plain([run_from_row(row) for row in ledger])})
    zones = tables.job_timezones
    stored = conn.execute(
        select(zones.c.tz).where(zones.c.owner_id == owner_id)
    ).scalar_one_or_none()
    return out, stored or default_timezone


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses as objects, times in ISO 8601 (UTC as
    stored), enums by value, anything else unknown as its text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Iterable):
        return [plain(v) for v in value]
    return str(value)
