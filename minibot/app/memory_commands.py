"""/memory: a person sees, exports and deletes the notes kept for them."""

from __future__ import annotations

import json

from minibot.app.commands import ButtonRequest, CommandReply, CommandRequest, CommandRouter
from minibot.app.tools.note_tools import note_view
from minibot.core.messages import Button
from minibot.core.notes import Note
from minibot.core.ports.note_store import NoteStore

USAGE = (
    "/memory - list your notes\n"
    "/memory show <title> - one note with where it came from\n"
    "/memory delete <title> - delete one note\n"
    "/memory export - all your notes as JSON\n"
    "/memory forget all - delete every note (asks first)"
)
PAGE = 20


class MemoryCommands:
    def __init__(self, store: NoteStore) -> None:
        self._store = store

    def register(self, router: CommandRouter) -> None:
        router.register("memory", "your notes: list, show, delete, export, forget all", self.memory)
        router.register_buttons("memory", self.button)

    async def memory(self, request: CommandRequest) -> CommandReply:
        verb, _, rest = request.args.partition(" ")
        verb, rest = verb.lower(), rest.strip()
        owner = request.owner_id
        if verb in ("", "list"):
            return await self._list(owner)
        if verb == "show" and rest:
            note = await self._store.get(owner, rest)
            return CommandReply(_describe(note) if note else f"No note titled {rest!r}.")
        if verb == "delete" and rest:
            deleted = await self._store.delete(owner, rest)
            return CommandReply(
                f"Deleted {rest!r}." if deleted else f"No note titled exactly {rest!r}."
            )
        if verb == "export":
            return await self._export(owner)
        if verb == "forget" and rest.lower() == "all confirm":
            return await self._forget_all(owner)
        if verb == "forget" and rest.lower() == "all":
            count = await self._store.count(owner)
            return CommandReply(
                f"Really forget all {count} of your notes? This cannot be undone. "
                "Press Yes, or send /memory forget all confirm.",
                buttons=(
                    Button("Yes, forget all", "memory:forget-all"),
                    Button("Cancel", "memory:cancel"),
                ),
            )
        return CommandReply(USAGE)

    async def button(self, request: ButtonRequest) -> CommandReply:
        if request.action == "memory:forget-all":
            return await self._forget_all(request.owner_id)
        return CommandReply("Cancelled: your notes are kept.")

    async def _list(self, owner: str) -> CommandReply:
        total = await self._store.count(owner)
        if total == 0:
            return CommandReply("I keep no notes for you yet. Ask me to remember something.")
        notes = await self._store.list(owner, 0, PAGE)
        lines = [f"Your notes ({total}):"]
        lines += [f"- {n.title}: {_preview(n.content)} ({_source(n)})" for n in notes]
        if total > PAGE:
            lines.append(f"... and {total - PAGE} more (/memory export for all)")
        return CommandReply("\n".join(lines))

    async def _export(self, owner: str) -> CommandReply:
        notes: list[Note] = []
        while batch := await self._store.list(owner, len(notes), 100):
            notes.extend(batch)
        payload = [{**note_view(n), "source": _source(n)} for n in notes]
        return CommandReply(json.dumps(payload, ensure_ascii=False, indent=1))

    async def _forget_all(self, owner: str) -> CommandReply:
        count = await self._store.delete_all(owner)
        return CommandReply(f"Forgot all your notes ({count}).")


def _preview(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _source(note: Note) -> str:
    p = note.provenance
    when = p.at.strftime("%Y-%m-%d %H:%M UTC") if p.at else "unknown time"
    where = p.conversation or "unknown conversation"
    return f"saved {when} in {where}" + (f", message {p.message_id}" if p.message_id else "")


def _describe(note: Note) -> str:
    tags = f"\ntags: {', '.join(note.tags)}" if note.tags else ""
    call = f", tool call {note.provenance.tool_call_id}" if note.provenance.tool_call_id else ""
    return f"{note.title}\n{note.content}{tags}\n({_source(note)}{call})"
