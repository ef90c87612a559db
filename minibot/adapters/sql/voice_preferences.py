"""SqlVoicePreferences: each conversation's /voice mode, in one SQL table, cached."""

from __future__ import annotations

from sqlalchemy import Connection, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import voice_modes
from minibot.core.conversation import ConversationKey
from minibot.core.media import VoiceMode

# Modes read are kept: every answer asks, and a text turn must not pay a read for it.
_CACHED = 10_000


class SqlVoicePreferences:
    """VoicePreferences on SQL: a conversation without a row is OFF. One process owns
    a conversation's lane, so the cache it fills stays true while it runs."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database
        self._cache: dict[str, VoiceMode] = {}

    async def mode(self, conversation: ConversationKey) -> VoiceMode:
        key = str(conversation)
        cached = self._cache.get(key)
        if cached is not None:
            return cached

        def operation(conn: Connection) -> str | None:
            query = select(voice_modes.c.mode).where(voice_modes.c.conversation == key)
            return conn.execute(query).scalar_one_or_none()

        stored = await self._db.read(operation, quick=True)
        known = stored is not None and stored in VoiceMode._value2member_map_
        mode = VoiceMode(stored) if known and stored is not None else VoiceMode.OFF
        self._remember(key, mode)
        return mode

    async def set_mode(self, conversation: ConversationKey, mode: VoiceMode) -> None:
        key = str(conversation)

        def operation(conn: Connection) -> None:
            insert = self._db.insert(voice_modes).values(conversation=key, mode=mode.value)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[voice_modes.c.conversation], set_={"mode": mode.value}
                )
            )

        await self._db.write(operation)
        self._remember(key, mode)

    def _remember(self, key: str, mode: VoiceMode) -> None:
        if len(self._cache) >= _CACHED:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = mode
