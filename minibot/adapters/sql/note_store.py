"""SqlNoteStore: each owner's notes in SQL, with full-text search where the database has it."""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, text

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import PG_NOTE_VECTOR, notes
from minibot.core.errors import StoreError
from minibot.core.notes import (
    Note,
    NoteProvenance,
    closest_title,
    query_terms,
    relevance,
    title_key,
)

# The fallback scans at most this many of the owner's LIKE-matching notes to rank them.
_FALLBACK_CANDIDATES = 500
# Raw full-text queries (checked against the migrated schema by tests/adapters/sql/test_raw_sql.py).
_SQLITE_SEARCH = (
    "SELECT n.* FROM minibot_notes_fts f JOIN minibot_notes n ON n.id = f.rowid "
    "WHERE minibot_notes_fts MATCH :match AND n.owner_id = :owner "
    "ORDER BY bm25(minibot_notes_fts, 10.0, 1.0, 5.0), n.id DESC LIMIT :limit"
)
_PG_SEARCH = (
    f"SELECT * FROM minibot_notes WHERE owner_id = :owner "
    f"AND {PG_NOTE_VECTOR} @@ to_tsquery('simple', :match) "
    f"ORDER BY ts_rank({PG_NOTE_VECTOR}, to_tsquery('simple', :match)) DESC, "
    "id DESC LIMIT :limit"
)


class SqlNoteStore:
    """NoteStore on SQL. Every statement filters on owner_id; search terms reach the
    database only as bound parameters built from letters and digits (see `query_terms`),
    so no query text can change the statement or the FTS expression.

    Search: SQLite FTS5 ranked by bm25 (title weighted over tags over content), PostgreSQL
    tsvector ranked by ts_rank, elsewhere LIKE candidates ranked by `relevance`.
    """

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def save(
        self,
        owner_id: str,
        title: str,
        content: str,
        tags: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        provenance: NoteProvenance | None = None,
    ) -> Note:
        now = datetime.now(UTC)
        source = provenance or NoteProvenance()
        values = {
            "owner_id": owner_id,
            "title": _text(title).strip(),
            "title_key": title_key(title),
            "content": _text(content),
            "tags": json.dumps([_text(tag) for tag in tags], ensure_ascii=False),
            "meta": json.dumps(dict(metadata or {}), ensure_ascii=False),
            "prov_conversation": source.conversation,
            "prov_message_id": source.message_id,
            "prov_tool_call_id": source.tool_call_id,
            "prov_at": source.at,
            "prov_origin": source.origin,
            "created_at": now,
            "updated_at": now,
        }
        upsert = self._db.insert(notes).values(**values)
        replaced = {k: upsert.excluded[k] for k in values if k not in ("owner_id", "created_at")}
        statement = upsert.on_conflict_do_update(
            index_elements=[notes.c.owner_id, notes.c.title_key], set_=replaced
        ).returning(*notes.c)

        made = select(notes).where(
            notes.c.owner_id == owner_id, notes.c.prov_origin == source.origin
        )

        def operation(conn: Connection) -> Note:
            if source.origin is not None:
                # In the same transaction as the upsert: a tool call run again after a
                # crash finds what it saved the first time, whatever title it gives now.
                earlier = conn.execute(made).first()
                if earlier is not None:
                    return _from_row(earlier)
            return _from_row((conn.execute(statement)).one())

        return await self._db.write(operation)

    async def get(self, owner_id: str, title: str) -> Note | None:
        owned = notes.c.owner_id == owner_id

        def operation(conn: Connection) -> Note | None:
            exact = select(notes).where(owned, notes.c.title_key == title_key(title))
            row = (conn.execute(exact)).first()
            if row is not None:
                return _from_row(row)
            titles = (conn.execute(select(notes.c.title).where(owned))).scalars().all()
            near = closest_title(title, titles)
            if near is None:
                return None
            row = (
                conn.execute(select(notes).where(owned, notes.c.title_key == title_key(near)))
            ).first()
            return None if row is None else _from_row(row)

        return await self._db.read(operation)

    async def search(self, owner_id: str, query: str, limit: int = 10) -> builtins.list[Note]:
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        if self._db.full_text_search and self._db.dialect == "sqlite":
            statement = text(_SQLITE_SEARCH).columns(*notes.c)
            # Each term is quoted (a phrase) with a prefix star: operators cannot appear.
            match = " OR ".join(f'"{term}"*' for term in terms)
        elif self._db.full_text_search and self._db.dialect == "postgresql":
            statement = text(_PG_SEARCH).columns(*notes.c)
            match = " | ".join(f"{term}:*" for term in terms)
        else:
            return await self._fallback_search(owner_id, terms, limit)
        params = {"match": match, "owner": owner_id, "limit": limit}

        def operation(conn: Connection) -> builtins.list[Note]:
            return [_from_row(row) for row in conn.execute(statement, params)]

        try:
            return await self._db.read(operation)
        except StoreError:
            # A term the full-text parser still rejects: rank portably rather than fail.
            return await self._fallback_search(owner_id, terms, limit)

    async def _fallback_search(
        self, owner_id: str, terms: builtins.list[str], limit: int
    ) -> builtins.list[Note]:
        haystack = func.lower(notes.c.title + " " + notes.c.tags + " " + notes.c.content)
        # Terms hold only letters and digits, so LIKE wildcards cannot appear in them.
        anywhere = [haystack.like(f"%{term}%") for term in terms]
        query = (
            select(notes)
            .where(notes.c.owner_id == owner_id, or_(*anywhere))
            .order_by(notes.c.updated_at.desc())
            .limit(_FALLBACK_CANDIDATES)
        )

        def operation(conn: Connection) -> builtins.list[Note]:
            return [_from_row(row) for row in conn.execute(query)]

        candidates = await self._db.read(operation)
        scored = [(relevance(note, terms), note) for note in candidates]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], -s[1].id))
        return [note for _, note in ranked[:limit]]

    async def list(self, owner_id: str, offset: int = 0, limit: int = 50) -> builtins.list[Note]:
        query = (
            select(notes)
            .where(notes.c.owner_id == owner_id)
            .order_by(notes.c.updated_at.desc(), notes.c.id.desc())
            .offset(max(offset, 0))
            .limit(max(limit, 0))
        )

        def operation(conn: Connection) -> builtins.list[Note]:
            return [_from_row(row) for row in conn.execute(query)]

        return await self._db.read(operation)

    async def delete(self, owner_id: str, title: str) -> bool:
        statement = delete(notes).where(
            notes.c.owner_id == owner_id, notes.c.title_key == title_key(title)
        )

        def operation(conn: Connection) -> bool:
            return (conn.execute(statement)).rowcount > 0

        return await self._db.write(operation)

    async def delete_all(self, owner_id: str) -> int:
        statement = delete(notes).where(notes.c.owner_id == owner_id)

        def operation(conn: Connection) -> int:
            return int((conn.execute(statement)).rowcount)

        return await self._db.write(operation)

    async def count(self, owner_id: str) -> int:
        query = select(func.count()).select_from(notes).where(notes.c.owner_id == owner_id)

        def operation(conn: Connection) -> int:
            return int((conn.execute(query)).scalar_one())

        return await self._db.read(operation)


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; drop it everywhere so every backend stores the same.
    return value.replace("\x00", "")


def _from_row(row: Any) -> Note:
    return Note(
        id=int(row.id),
        owner_id=row.owner_id,
        title=row.title,
        content=row.content,
        tags=tuple(json.loads(row.tags)),
        metadata=json.loads(row.meta),
        provenance=NoteProvenance(
            conversation=row.prov_conversation,
            message_id=row.prov_message_id,
            tool_call_id=row.prov_tool_call_id,
            at=row.prov_at,
            origin=row.prov_origin,
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
