"""Port: the notes (key-value memory) the assistant saves and searches for each owner."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from minibot.core.notes import Note, NoteProvenance


class NoteStore(Protocol):
    """Keeps each owner's notes; every call is scoped to one `owner_id` and no argument
    can reach another owner's notes.

    - `save` upserts by (owner, title) with the title compared ignoring case and extra
      spaces: an existing note keeps its id and `created_at` and takes the new title
      spelling, content, tags, metadata and provenance. Returns the stored note. When
      `provenance.origin` is set and the owner already has a note saved with that origin
      (the same tool call of a turn run again after a crash), that note is returned
      unchanged and nothing is written.
    - `get` returns the note whose title matches exactly (ignoring case), else the note
      whose title is closest to it (difflib ratio >= 0.8, so small typos are tolerated),
      else None.
    - `search` ranks the owner's notes against the words of `query` (title, tags and
      content; a word matches as a prefix), best first, at most `limit`. Any text is a
      valid query: operators and quotes are treated as plain text, and a query with no
      words returns an empty list. Never raises on the query's content.
    - `list` pages through the owner's notes, most recently updated first.
    - `delete` removes the note with that exact title (ignoring case), True when it
      existed. `delete_all` removes all of the owner's notes and returns how many.
    - `count` returns how many notes the owner has (0 for an unknown owner).
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def save(
        self,
        owner_id: str,
        title: str,
        content: str,
        tags: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        provenance: NoteProvenance | None = None,
    ) -> Note: ...

    async def get(self, owner_id: str, title: str) -> Note | None: ...

    async def search(self, owner_id: str, query: str, limit: int = 10) -> builtins.list[Note]: ...

    async def list(
        self, owner_id: str, offset: int = 0, limit: int = 50
    ) -> builtins.list[Note]: ...

    async def delete(self, owner_id: str, title: str) -> bool: ...

    async def delete_all(self, owner_id: str) -> int: ...

    async def count(self, owner_id: str) -> int: ...
