"""The KV memory tools: notes the model can save, get, search, list and delete for a person."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from minibot.app.tools.registry import Tool, ToolAccess, ToolContext
from minibot.core.errors import NotFound
from minibot.core.llm import ToolSpec
from minibot.core.notes import Note, NoteProvenance
from minibot.core.ports.note_store import NoteStore

MAX_TAGS = 10
MAX_QUERY_CHARS = 500


def note_view(note: Note) -> dict[str, Any]:
    return {
        "title": note.title,
        "content": note.content,
        "tags": list(note.tags),
        "updated_at": note.updated_at.isoformat() if note.updated_at else None,
    }


class NoteTools:
    """Builds the note tools over a NoteStore. The owner always comes from the
    ToolContext (resolved from the sender), never from the model's arguments."""

    def __init__(
        self,
        store: NoteStore,
        *,
        default_limit: int,
        max_limit: int,
        max_title_chars: int,
        max_content_chars: int,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._default_limit = default_limit
        self._max_limit = max_limit
        self._max_title = max_title_chars
        self._max_content = max_content_chars
        self._now = now

    def tools(self) -> list[Tool]:
        title = {"type": "string", "minLength": 1, "maxLength": self._max_title}
        limit = {"type": "integer", "minimum": 1, "maximum": self._max_limit}

        def spec(
            name: str, description: str, properties: dict[str, Any], required: list[str]
        ) -> ToolSpec:
            return ToolSpec(
                name,
                description,
                {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                },
            )

        return [
            Tool(
                spec(
                    "save_note",
                    "Save a note for the user so it can be recalled in later conversations. "
                    "Use when the user asks you to remember something or states a lasting fact. "
                    "Saving under an existing title replaces that note.",
                    {
                        "title": title,
                        "content": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": self._max_content,
                        },
                        "tags": {
                            "type": "array",
                            "items": {"type": "string", "minLength": 1, "maxLength": 50},
                            "maxItems": MAX_TAGS,
                        },
                    },
                    ["title", "content"],
                ),
                self.save_note,
                ToolAccess.CHANGES_OWNER,
            ),
            Tool(
                spec(
                    "get_note",
                    "Get one of the user's notes by its title (small typos are tolerated).",
                    {"title": title},
                    ["title"],
                ),
                self.get_note,
                ToolAccess.READS_OWNER,
            ),
            Tool(
                spec(
                    "search_notes",
                    "Search the user's notes by words, best matches first. Use before answering "
                    "questions about things the user may have told you earlier.",
                    {
                        "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                        "limit": limit,
                    },
                    ["query"],
                ),
                self.search_notes,
                ToolAccess.READS_OWNER,
            ),
            Tool(
                spec(
                    "list_notes",
                    "List the user's notes, most recently updated first, a page at a time.",
                    {"offset": {"type": "integer", "minimum": 0}, "limit": limit},
                    [],
                ),
                self.list_notes,
                ToolAccess.READS_OWNER,
            ),
            Tool(
                spec(
                    "delete_note",
                    "Delete one of the user's notes by its exact title, when asked to forget it.",
                    {"title": title},
                    ["title"],
                ),
                self.delete_note,
                ToolAccess.CHANGES_OWNER,
            ),
        ]

    async def save_note(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        provenance = NoteProvenance(
            conversation=str(context.conversation),
            message_id=context.message_id,
            tool_call_id=context.tool_call_id,
            at=self._now(),
            origin=context.origin,
        )
        note = await self._store.save(
            context.owner_id,
            args["title"],
            args["content"],
            tags=tuple(args.get("tags", ())),
            provenance=provenance,
        )
        return {"saved": note_view(note)}

    async def get_note(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        note = await self._store.get(context.owner_id, args["title"])
        if note is None:
            raise NotFound(f"no note titled {args['title']!r}; try search_notes")
        return note_view(note)

    async def search_notes(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        limit = min(args.get("limit", self._default_limit), self._max_limit)
        notes = await self._store.search(context.owner_id, args["query"], limit)
        return {"notes": [note_view(n) for n in notes]}

    async def list_notes(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        offset = args.get("offset", 0)
        limit = min(args.get("limit", self._default_limit), self._max_limit)
        notes = await self._store.list(context.owner_id, offset, limit)
        total = await self._store.count(context.owner_id)
        return {
            "notes": [note_view(n) for n in notes],
            "offset": offset,
            "limit": limit,
            "total": total,
        }

    async def delete_note(self, args: Mapping[str, Any], context: ToolContext) -> dict[str, Any]:
        if not await self._store.delete(context.owner_id, args["title"]):
            raise NotFound(f"no note titled exactly {args['title']!r}")
        return {"deleted": args["title"]}
