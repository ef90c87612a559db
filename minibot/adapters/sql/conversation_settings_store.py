"""SqlConversationSettingsStore: each conversation's settings in one row, cached in memory."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import conversation_settings as table
from minibot.core.conversation import ConversationKey
from minibot.core.conversation_settings import (
    NO_SETTINGS,
    BusyPolicy,
    ConversationSettings,
    HistorySummary,
)


class SqlConversationSettingsStore:
    """ConversationSettingsStore on SQL. Every turn reads its conversation's settings, so
    they are cached after the first read (the `cache_size` most recent conversations);
    writes go through the cache. A replica sees another's change once the entry leaves its
    cache or it restarts (the settings change by command, rarely).

    The busy policies chosen are read once, all together (a conversation that chose
    one is rare), and kept beside the cache: a turn asks its conversation's without a
    read, and most conversations have none."""

    def __init__(self, database: SqlDatabase, *, cache_size: int = 10_000) -> None:
        self._db = database
        self._cache: OrderedDict[ConversationKey, ConversationSettings] = OrderedDict()
        self._cache_size = cache_size
        # Conversation (as text) -> its chosen busy policy; None until first asked.
        self._busy: dict[str, BusyPolicy] | None = None
        self._writes = 0

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def get(self, conversation: ConversationKey) -> ConversationSettings:
        cached = self._cache.get(conversation)
        if cached is not None:
            self._cache.move_to_end(conversation)
            return cached
        key = str(conversation)

        def operation(conn: Connection) -> ConversationSettings:
            row = conn.execute(select(table).where(table.c.conversation == key)).first()
            return _from_row(row._mapping) if row is not None else NO_SETTINGS

        found = await self._db.read(operation, quick=True)
        self._remember(conversation, found)
        return found

    async def busy_policy(self, conversation: ConversationKey) -> BusyPolicy | None:
        def operation(conn: Connection) -> dict[str, BusyPolicy]:
            query = select(table.c.conversation, table.c.busy_policy).where(
                table.c.busy_policy.is_not(None)
            )
            return {row[0]: BusyPolicy(row[1]) for row in conn.execute(query) if row[1]}

        while self._busy is None:
            writes = self._writes
            found = await self._db.read(operation, quick=True)
            # A put during the read may be missing from it: then it is read again.
            if self._busy is None and writes == self._writes:
                self._busy = found
        return self._busy.get(str(conversation))

    async def put(self, conversation: ConversationKey, settings: ConversationSettings) -> None:
        summary = settings.summary
        row = {
            "conversation": str(conversation),
            "model_alias": settings.model_alias,
            "busy_policy": str(settings.busy_policy) if settings.busy_policy else None,
            "summary": summary.text if summary else None,
            "summary_through_id": summary.through_id if summary else None,
            "summary_tokens": summary.tokens if summary else None,
            "updated_at": datetime.now(UTC),
        }

        def operation(conn: Connection) -> None:
            insert = self._db.insert(table).values(**row)
            changed = {k: v for k, v in row.items() if k != "conversation"}
            conn.execute(
                insert.on_conflict_do_update(index_elements=[table.c.conversation], set_=changed)
            )

        await self._db.write(operation)
        self._writes += 1
        self._remember(conversation, settings)
        if self._busy is not None:
            if settings.busy_policy is None:
                self._busy.pop(str(conversation), None)
            else:
                self._busy[str(conversation)] = settings.busy_policy

    def _remember(self, conversation: ConversationKey, settings: ConversationSettings) -> None:
        self._cache[conversation] = settings
        self._cache.move_to_end(conversation)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _from_row(row: Any) -> ConversationSettings:
    summary = None
    if row["summary"] is not None and row["summary_through_id"] is not None:
        through = int(row["summary_through_id"])
        summary = HistorySummary(row["summary"], through, row["summary_tokens"] or 0)
    policy = BusyPolicy(row["busy_policy"]) if row["busy_policy"] else None
    return ConversationSettings(row["model_alias"], policy, summary)
