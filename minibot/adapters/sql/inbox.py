"""SqlInbox: updates from a channel, stored before they are acknowledged to the platform."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.sqlite_fast import driver, to_db
from minibot.adapters.sql.tables import dead_letters, inbox
from minibot.adapters.sql.write_failure import classified
from minibot.core.ports.inbox import InboxEntry, InboxItem

# Rows per INSERT statement: 6 bound values each stays far below SQLite's variable limit.
_ROWS_PER_STATEMENT = 1000

_SQLITE_ADD = (
    "INSERT INTO minibot_inbox (channel, external_id, conversation, payload, done, created_at) "
    "VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (channel, external_id) DO NOTHING RETURNING id"
)
_SQLITE_DONE = "UPDATE minibot_inbox SET done = 1, done_at = ? WHERE id = ? AND done = 0"

_Waiting = tuple[list[dict[str, Any]], "asyncio.Future[list[int | None]]"]


class SqlInbox:
    """Inbox on SQL. A duplicate (channel, external_id) is skipped by the database itself
    (INSERT ... ON CONFLICT DO NOTHING), so concurrent adds of one update store it once.

    On SQLite, adds arriving while the writer is busy join one multi-row INSERT in one
    transaction (a group commit); each `add` still returns only after its commit.
    `sync` fsyncs the log only with `sync_to_disk` (memory.sync_before_confirm).
    """

    def __init__(self, database: SqlDatabase, *, sync_to_disk: bool = False) -> None:
        self._db = database
        self._sync_to_disk = sync_to_disk
        self._waiting: list[_Waiting] = []

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def add(
        self, channel: str, external_id: str, conversation: str, payload: str
    ) -> int | None:
        return (await self.add_many(channel, [InboxEntry(external_id, conversation, payload)]))[0]

    async def add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]:
        try:
            return await self._add_many(channel, entries)
        except Exception as exc:
            raise classified(exc) from exc

    async def _add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]:
        now = datetime.now(UTC)
        rows = [
            {
                "channel": channel,
                "external_id": entry.external_id,
                "conversation": entry.conversation,
                "payload": entry.payload,
                "done": False,
                "created_at": now,
            }
            for entry in entries
        ]
        if not rows:
            return []
        if not self._db.group_commits:

            def operation(conn: Connection) -> list[int | None]:
                return _ids_in_order(rows, _insert(conn, self._db, rows))

            return await self._db.write(operation)
        future: asyncio.Future[list[int | None]] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, future))
        if len(self._waiting) == 1:
            self._submit_batch()
        # The batch commits even if this caller is cancelled: the updates are then stored.
        return await asyncio.shield(future)

    def _submit_batch(self) -> None:
        taken: list[_Waiting] = []

        def operation(conn: Connection) -> dict[tuple[str, str], int]:
            if not taken:
                # Everything queued until the writer gets here joins; a retry reuses it.
                taken.extend(self._waiting)
                self._waiting = []
            return _insert(conn, self._db, [row for rows, _ in taken for row in rows])

        def settle(batch: asyncio.Future[dict[tuple[str, str], int]]) -> None:
            error = batch.exception()
            ids = {} if error is not None else batch.result()
            for rows, future in taken:
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(_ids_in_order(rows, ids))

        written = self._db.submit(operation)
        if written.done():
            # Committed at once (an idle writer): answer now rather than an iteration later.
            settle(written)
        else:
            written.add_done_callback(settle)

    async def set_aside(self, channel: str, raw: bytes, error: str) -> bool:
        row = {
            "channel": channel,
            "digest": hashlib.sha256(raw).hexdigest(),
            "raw": raw,
            "error": error,
            "created_at": datetime.now(UTC),
        }
        statement = (
            self._db.insert(dead_letters)
            .values(row)
            .on_conflict_do_nothing(index_elements=[dead_letters.c.channel, dead_letters.c.digest])
            .returning(dead_letters.c.id)
        )

        def operation(conn: Connection) -> bool:
            return conn.execute(statement).first() is not None

        try:
            return await self._db.write(operation)
        except Exception as exc:
            raise classified(exc) from exc

    async def sync(self) -> None:
        # Off by default: an fsync per polled batch stalls the commits that follow it
        # (~0.3 ms of latency per message here); a crash of the process loses nothing
        # either way, only a power loss can drop the last commits.
        if self._sync_to_disk:
            await self._db.sync()

    async def pending(self, channel: str) -> list[InboxItem]:
        query = (
            select(
                inbox.c.id,
                inbox.c.channel,
                inbox.c.external_id,
                inbox.c.conversation,
                inbox.c.payload,
            )
            .where(inbox.c.channel == channel, inbox.c.done.is_(False))
            .order_by(inbox.c.id)
        )

        def operation(conn: Connection) -> list[InboxItem]:
            return [InboxItem(*row) for row in conn.execute(query)]

        return await self._db.read(operation)

    async def mark_done(self, item_id: int) -> None:
        now = datetime.now(UTC)

        def operation(conn: Connection) -> None:
            if conn.dialect.name == "sqlite":
                driver(conn).execute(_SQLITE_DONE, (to_db(now), item_id))
                return
            conn.execute(
                update(inbox)
                .where(inbox.c.id == item_id, inbox.c.done.is_(False))
                .values(done=True, done_at=now)
            )

        # `later`: a mark joins the next commit of anything else (a mark lost in a crash
        # only makes the next run hand the item over again, and that turn is then
        # replayed from its stored answer and skipped by the delivery ledger).
        await self._db.write(operation, later=True)

    # -- retention -------------------------------------------------------------------

    async def prune_done(self, before: datetime, limit: int) -> int:
        """Deletes up to `limit` items marked done before `before`, oldest first; returns
        how many. An item not done is never deleted, however old."""
        old = (inbox.c.done.is_(True), inbox.c.done_at < before)
        # The scan for candidates runs on a reader; the writer deletes by primary key and
        # checks the condition again, so it holds the write lock only briefly.
        found = select(inbox.c.id).where(*old).order_by(inbox.c.id).limit(limit)

        def candidates(conn: Connection) -> list[int]:
            return list(conn.execute(found).scalars())

        ids = await self._db.read(candidates)
        if not ids:
            return 0
        statement = delete(inbox).where(inbox.c.id.in_(ids), *old)

        def operation(conn: Connection) -> int:
            return conn.execute(statement).rowcount

        return await self._db.write(operation)


def _ids_in_order(rows: list[dict[str, Any]], ids: dict[tuple[str, str], int]) -> list[int | None]:
    """The id of each row in order; of several equal updates the first gets it (the
    others are duplicates). Takes the ids it hands out from `ids`."""
    return [ids.pop((row["channel"], row["external_id"]), None) for row in rows]


def _insert(
    conn: Connection, db: SqlDatabase, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """Inserts the rows that are new; returns the ids of the inserted ones by key."""
    ids: dict[tuple[str, str], int] = {}
    if conn.dialect.name == "sqlite":
        raw = driver(conn)
        for row in rows:
            key = (row["channel"], row["external_id"])
            values = (*key, row["conversation"], row["payload"], to_db(row["created_at"]))
            found = raw.execute(_SQLITE_ADD, values).fetchone()
            if found is not None:
                ids[key] = found[0]
        return ids
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        statement = (
            db.insert(inbox)
            .values(rows[start : start + _ROWS_PER_STATEMENT])
            .on_conflict_do_nothing(index_elements=[inbox.c.channel, inbox.c.external_id])
            .returning(inbox.c.id, inbox.c.channel, inbox.c.external_id)
        )
        for item_id, channel, external_id in conn.execute(statement):
            ids[(channel, external_id)] = item_id
    return ids
