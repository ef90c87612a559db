"""SqlConversationMemory: every message of every conversation, in one SQL table."""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Integer, bindparam, func, insert, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.sqlite_fast import driver, from_db, to_db
from minibot.adapters.sql.tables import conversation_resets
from minibot.adapters.sql.tables import messages as messages_table
from minibot.core.conversation import ChatMessage, ConversationKey, Role, ToolCall
from minibot.core.history_window import select_window
from minibot.core.tokens import message_tokens

_reset_after = (
    select(conversation_resets.c.after_id)
    .where(conversation_resets.c.conversation == bindparam("conversation"))
    .scalar_subquery()
)
# Built once: the newest rows of one conversation after its reset marker, via the
# (conversation, id) index.
_WINDOW = (
    select(messages_table)
    .where(
        messages_table.c.conversation == bindparam("conversation"),
        messages_table.c.id > func.coalesce(_reset_after, 0),
    )
    .order_by(messages_table.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_COLUMNS = (
    "id, conversation, role, content, tool_calls, tool_call_id, meta, token_estimate, created_at"
)
_SQLITE_WINDOW = (
    f"SELECT {_COLUMNS} FROM minibot_messages WHERE conversation = ? AND id > coalesce("
    "(SELECT after_id FROM minibot_conversation_resets WHERE conversation = ?), 0) "
    "ORDER BY id DESC LIMIT ?"
)
_SQLITE_APPEND = (
    "INSERT INTO minibot_messages (conversation, role, content, tool_calls, tool_call_id, "
    "meta, token_estimate, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


# Conversations whose newest rows are kept in memory (SQLite only, least recently used out).
_CACHED_CONVERSATIONS = 512


class _Row(NamedTuple):
    id: int
    conversation: str
    role: str
    content: str
    tool_calls: str | None
    tool_call_id: str | None
    meta: str | None
    token_estimate: int
    created_at: Any


class SqlConversationMemory:
    """ConversationMemory on SQL. `clear` keeps the rows and records a reset marker (the
    id of the newest message at that moment); `recent` reads only rows after it, so the
    full history stays available for audit and export.

    Returned messages carry their row id as `meta["message_id"]`.

    On SQLite (one process writes a conversation) each conversation's newest rows are
    also kept in memory once read: the window of the next turn is then a slice, with no
    query and no row decoding. Appends add to it (by row id), `clear` drops it.
    """

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        # The database is shared; its owner (the composition root) stops it.
        return None

    async def append(self, conversation: ConversationKey, messages: Sequence[ChatMessage]) -> None:
        if not messages:
            return
        key = str(conversation)
        now = datetime.now(UTC)
        rows = [_to_row(key, message, now) for message in messages]

        def operation(conn: Connection) -> list[int | None] | None:
            # One transaction: the batch is atomic and keeps its order.
            if conn.dialect.name == "sqlite":
                raw = driver(conn)
                return [raw.execute(_SQLITE_APPEND, _sqlite_values(r)).lastrowid for r in rows]
            conn.execute(insert(messages_table), rows)
            return None

        try:
            ids = await self._db.write(operation)
        except BaseException:
            # Failed or cancelled (the write may still land): read it back next time.
            self._windows.pop(key, None)
            raise
        window = self._windows.get(key)
        if window is None:
            return
        known = [i for i in ids or [] if i is not None]
        if len(known) != len(rows):
            self._windows.pop(key, None)
            return
        stored = [_from_row(_stored_row(row, i)) for row, i in zip(rows, known, strict=True)]
        window.add(stored)

    async def recent(
        self, conversation: ConversationKey, *, max_messages: int, max_tokens: int
    ) -> list[ChatMessage]:
        if max_messages <= 0 or max_tokens <= 0:
            return []
        key = str(conversation)
        window = self._windows.get(key)
        if window is not None and window.depth >= max_messages:
            self._windows.move_to_end(key)
            newest_first = window.rows[:max_messages]
            return select_window(newest_first, max_messages=max_messages, max_tokens=max_tokens)
        params = {"conversation": key, "limit": max_messages}

        def operation(conn: Connection) -> list[Any]:
            if conn.dialect.name == "sqlite":
                key = str(conversation)
                found = driver(conn).execute(_SQLITE_WINDOW, (key, key, max_messages))
                return [_Row._make((*row[:-1], from_db(row[-1]))) for row in found.fetchall()]
            return list((conn.execute(_WINDOW, params)).all())

        rows = await self._db.read(operation, quick=True)
        newest_first = [_from_row(row) for row in rows]
        if self._db.dialect == "sqlite":
            self._windows[key] = _Window(max_messages, newest_first)
            self._windows.move_to_end(key)
            while len(self._windows) > _CACHED_CONVERSATIONS:
                self._windows.popitem(last=False)
        return select_window(newest_first, max_messages=max_messages, max_tokens=max_tokens)

    async def clear(self, conversation: ConversationKey) -> int:
        key = str(conversation)
        self._windows.pop(key, None)

        def operation(conn: Connection) -> int:
            previous = (
                conn.execute(
                    select(conversation_resets.c.after_id).where(
                        conversation_resets.c.conversation == key
                    )
                )
            ).scalar_one_or_none() or 0
            newest, dropped = (
                conn.execute(
                    select(func.max(messages_table.c.id), func.count()).where(
                        messages_table.c.conversation == key, messages_table.c.id > previous
                    )
                )
            ).one()
            if not dropped:
                return 0
            upsert = self._db.insert(conversation_resets).values(
                conversation=key, after_id=newest, at=datetime.now(UTC)
            )
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[conversation_resets.c.conversation],
                    set_={"after_id": newest, "at": upsert.excluded.at},
                )
            )
            return int(dropped)

        try:
            return await self._db.write(operation)
        finally:
            self._windows.pop(key, None)


@dataclasses.dataclass(slots=True)
class _Window:
    """A conversation's newest rows after its reset marker, newest first: all of them
    when fewer than `depth` exist, else the newest `depth`."""

    depth: int
    rows: list[ChatMessage]

    def add(self, stored: list[ChatMessage]) -> None:
        # By row id: a read that already saw these rows must not get them twice.
        merged = {m.meta["message_id"]: m for m in self.rows}
        merged.update((m.meta["message_id"], m) for m in stored)
        newest = sorted(merged.values(), key=lambda m: int(m.meta["message_id"]), reverse=True)
        self.rows = newest[: self.depth]


def _stored_row(row: dict[str, Any], row_id: int) -> _Row:
    """The row as a read would return it."""
    created_at: datetime = row["created_at"]
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return _Row(
        row_id,
        row["conversation"],
        row["role"],
        row["content"],
        row["tool_calls"],
        row["tool_call_id"],
        row["meta"],
        row["token_estimate"],
        created_at.astimezone(UTC),
    )


def _to_row(conversation: str, message: ChatMessage, now: datetime) -> dict[str, Any]:
    tool_calls = [dataclasses.asdict(call) for call in message.tool_calls]
    return {
        "conversation": conversation,
        "role": str(message.role),
        "content": message.content,
        "tool_calls": json.dumps(tool_calls) if tool_calls else None,
        "tool_call_id": message.tool_call_id,
        "meta": json.dumps(message.meta) if message.meta else None,
        "token_estimate": message_tokens(message),
        "created_at": message.created_at or now,
    }


def _sqlite_values(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["conversation"],
        row["role"],
        row["content"],
        row["tool_calls"],
        row["tool_call_id"],
        row["meta"],
        row["token_estimate"],
        to_db(row["created_at"]),
    )


def _from_row(row: Any) -> ChatMessage:
    calls = json.loads(row.tool_calls) if row.tool_calls else []
    meta = json.loads(row.meta) if row.meta else {}
    meta["message_id"] = str(row.id)
    return ChatMessage(
        role=Role(row.role),
        content=row.content,
        tool_calls=tuple(ToolCall(**call) for call in calls),
        tool_call_id=row.tool_call_id,
        created_at=row.created_at,
        token_estimate=row.token_estimate,
        meta=meta,
    )
