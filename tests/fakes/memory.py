"""In-memory fakes of the persistence ports, for unit tests of the app layer."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from minibot.adapters.memory.history_window import estimate_tokens, select_window
from minibot.core.conversation import ChatMessage, ConversationKey
from minibot.core.notes import (
    Note,
    NoteProvenance,
    closest_title,
    query_terms,
    relevance,
    title_key,
)
from minibot.core.ports.inbox import InboxEntry, InboxItem
from minibot.core.usage import UsageRecord, UsageTotals


def _now() -> datetime:
    return datetime.now(UTC)


class InMemoryConversationMemory:
    """ConversationMemory kept in a dict; `clear` drops the messages."""

    def __init__(self) -> None:
        self.messages: dict[ConversationKey, list[ChatMessage]] = {}
        self._next_id = 1

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def append(self, conversation: ConversationKey, messages: Sequence[ChatMessage]) -> None:
        stored = self.messages.setdefault(conversation, [])
        for message in messages:
            stored.append(
                dataclasses.replace(
                    message,
                    created_at=message.created_at or _now(),
                    token_estimate=estimate_tokens(message),
                    meta={**message.meta, "message_id": str(self._next_id)},
                )
            )
            self._next_id += 1

    async def recent(
        self, conversation: ConversationKey, *, max_messages: int, max_tokens: int
    ) -> list[ChatMessage]:
        newest_first = list(reversed(self.messages.get(conversation, [])))
        return select_window(newest_first, max_messages=max_messages, max_tokens=max_tokens)

    async def clear(self, conversation: ConversationKey) -> int:
        return len(self.messages.pop(conversation, []))


class InMemoryUsageLedger:
    """UsageLedger kept in a list (`records`, in recording order)."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def record(self, record: UsageRecord) -> None:
        self.records.append(record)

    async def totals(self, owner_id: str, since: datetime | None = None) -> UsageTotals:
        chosen = [
            r for r in self.records if r.owner_id == owner_id and (since is None or r.at >= since)
        ]
        return UsageTotals(
            requests=len(chosen),
            prompt_tokens=sum(r.prompt_tokens for r in chosen),
            completion_tokens=sum(r.completion_tokens for r in chosen),
            cost_usd=sum(r.cost_usd for r in chosen),
        )


class InMemoryInbox:
    """Inbox kept in a dict; `done` holds the ids marked done."""

    def __init__(self) -> None:
        self.items: dict[int, InboxItem] = {}
        self.done: set[int] = set()
        self.syncs = 0
        self._keys: dict[tuple[str, str], int] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def add(
        self, channel: str, external_id: str, conversation: str, payload: str
    ) -> int | None:
        if (channel, external_id) in self._keys:
            return None
        item_id = len(self.items) + 1
        self.items[item_id] = InboxItem(item_id, channel, external_id, conversation, payload)
        self._keys[(channel, external_id)] = item_id
        return item_id

    async def add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]:
        return [
            await self.add(channel, entry.external_id, entry.conversation, entry.payload)
            for entry in entries
        ]

    async def pending(self, channel: str) -> list[InboxItem]:
        return [
            item
            for item_id, item in sorted(self.items.items())
            if item.channel == channel and item_id not in self.done
        ]

    async def mark_done(self, item_id: int) -> None:
        if item_id in self.items:
            self.done.add(item_id)

    async def sync(self) -> None:
        self.syncs += 1


class InMemoryDeliveryLedger:
    """DeliveryLedger kept in a dict; recording a chunk twice keeps the first message id."""

    def __init__(self) -> None:
        self.chunks: dict[str, dict[int, str]] = {}
        self.failures: dict[str, str] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def sent(self, turn_id: str) -> dict[int, str]:
        return dict(self.chunks.get(turn_id, {}))

    async def record(self, turn_id: str, chunk: int, message_id: str) -> None:
        self.chunks.setdefault(turn_id, {}).setdefault(chunk, message_id)

    async def record_failure(self, turn_id: str, reason: str) -> None:
        self.failures.setdefault(turn_id, reason)

    async def failure(self, turn_id: str) -> str | None:
        return self.failures.get(turn_id)


class InMemoryNoteStore:
    """NoteStore kept in a dict per owner, ranked by the portable `relevance` score."""

    def __init__(self) -> None:
        self.notes: dict[str, dict[str, Note]] = {}
        self._next_id = 1

    async def start(self) -> None:
        return None

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
        owned = self.notes.setdefault(owner_id, {})
        key = title_key(title)
        previous = owned.get(key)
        now = _now()
        note_id, created_at = self._next_id, now
        if previous is None:
            self._next_id += 1
        else:
            note_id, created_at = previous.id, previous.created_at or now
        note = Note(
            id=note_id,
            owner_id=owner_id,
            title=title.strip(),
            content=content,
            tags=tuple(tags),
            metadata=dict(metadata or {}),
            provenance=provenance or NoteProvenance(),
            created_at=created_at,
            updated_at=now,
        )
        owned[key] = note
        return note

    async def get(self, owner_id: str, title: str) -> Note | None:
        owned = self.notes.get(owner_id, {})
        exact = owned.get(title_key(title))
        if exact is not None:
            return exact
        near = closest_title(title, [note.title for note in owned.values()])
        return None if near is None else owned[title_key(near)]

    async def search(self, owner_id: str, query: str, limit: int = 10) -> builtins.list[Note]:
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        scored = [(relevance(n, terms), n) for n in self.notes.get(owner_id, {}).values()]
        ranked = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], -s[1].id))
        return [note for _, note in ranked[:limit]]

    async def list(self, owner_id: str, offset: int = 0, limit: int = 50) -> builtins.list[Note]:
        owned = sorted(
            self.notes.get(owner_id, {}).values(),
            key=lambda n: (n.updated_at or _now(), n.id),
            reverse=True,
        )
        return owned[max(offset, 0) : max(offset, 0) + max(limit, 0)]

    async def delete(self, owner_id: str, title: str) -> bool:
        return self.notes.get(owner_id, {}).pop(title_key(title), None) is not None

    async def delete_all(self, owner_id: str) -> int:
        return len(self.notes.pop(owner_id, {}))

    async def count(self, owner_id: str) -> int:
        return len(self.notes.get(owner_id, {}))
