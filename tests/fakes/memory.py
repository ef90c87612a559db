"""In-memory fakes of the persistence ports, for unit tests of the app layer."""

from __future__ import annotations

import builtins
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from minibot.core.approval import Approval, ApprovalState
from minibot.core.conversation import ChatMessage, ConversationKey
from minibot.core.conversation_settings import NO_SETTINGS, BusyPolicy, ConversationSettings
from minibot.core.dashboard_sessions import DashboardSession
from minibot.core.delivery import ChunkClaim
from minibot.core.errors import EntryRejected
from minibot.core.history_window import select_window
from minibot.core.mcp import McpPin, McpToolInfo
from minibot.core.notes import (
    Note,
    NoteProvenance,
    closest_title,
    query_terms,
    relevance,
    title_key,
)
from minibot.core.ports.inbox import InboxEntry, InboxItem
from minibot.core.tokens import message_tokens
from minibot.core.usage import UsageRecord, UsageTotals
from minibot.core.workflows import Workflow


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
                    token_estimate=message_tokens(message),
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


def _encodable(*texts: str) -> None:
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EntryRejected(f"the store refused the data: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    channel: str
    raw: bytes
    error: str


class InMemoryInbox:
    """Inbox kept in a dict; `done` holds the ids marked done, `dead_letters` what was set
    aside. Like a database it refuses text that cannot be encoded as UTF-8."""

    def __init__(self) -> None:
        self.items: dict[int, InboxItem] = {}
        self.done: set[int] = set()
        self.syncs = 0
        self.dead_letters: list[DeadLetter] = []
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
        _encodable(channel, external_id, conversation, payload)
        item_id = len(self.items) + 1
        self.items[item_id] = InboxItem(item_id, channel, external_id, conversation, payload)
        self._keys[(channel, external_id)] = item_id
        return item_id

    async def add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]:
        for entry in entries:  # all or none, like one transaction
            _encodable(channel, entry.external_id, entry.conversation, entry.payload)
        return [
            await self.add(channel, entry.external_id, entry.conversation, entry.payload)
            for entry in entries
        ]

    async def set_aside(self, channel: str, raw: bytes, error: str) -> bool:
        if any(letter.channel == channel and letter.raw == raw for letter in self.dead_letters):
            return False
        self.dead_letters.append(DeadLetter(channel, raw, error))
        return True

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
    """DeliveryLedger kept in a dict; recording a chunk twice keeps the first message id.
    `shared_with` makes a second sender (`owner`) over the same dicts, as replicas share
    one database; claims lapse after `lease_seconds` of `now`."""

    def __init__(
        self,
        *,
        owner: str = "local",
        lease_seconds: float = 30.0,
        now: Callable[[], float] = time.monotonic,
        shared_with: InMemoryDeliveryLedger | None = None,
    ) -> None:
        self.chunks: dict[str, dict[int, str]] = {}
        self.failures: dict[str, str] = {}
        self.claims: dict[tuple[str, int], tuple[str, float]] = {}
        if shared_with is not None:
            self.chunks, self.failures = shared_with.chunks, shared_with.failures
            self.claims = shared_with.claims
        self.owner = owner
        self._lease_seconds = lease_seconds
        self._now = now

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def sent(self, turn_id: str) -> dict[int, str]:
        return dict(self.chunks.get(turn_id, {}))

    async def claim(self, turn_id: str, chunk: int) -> ChunkClaim:
        message_id = self.chunks.get(turn_id, {}).get(chunk)
        if message_id is not None:
            return ChunkClaim(won=False, message_id=message_id)
        now = self._now()
        holder, expires_at = self.claims.get((turn_id, chunk), (self.owner, now))
        if holder != self.owner and expires_at > now:
            return ChunkClaim(won=False, wait_seconds=min(expires_at - now, 0.1))
        self.claims[(turn_id, chunk)] = (self.owner, now + self._lease_seconds)
        return ChunkClaim(won=True)

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
        origin = provenance.origin if provenance else None
        made = [n for n in owned.values() if origin and n.provenance.origin == origin]
        if made:
            return made[0]
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


class InMemoryApprovalStore:
    """ApprovalStore in a dict, with the same first-decision-wins rule."""

    def __init__(self) -> None:
        self.approvals: dict[str, Approval] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def save(self, approval: Approval) -> None:
        current = self.approvals.get(approval.id)
        if current is None or current.state is ApprovalState.PENDING:
            self.approvals[approval.id] = approval

    async def get(self, approval_id: str) -> Approval | None:
        return self.approvals.get(approval_id)

    async def decide(self, approval_id: str, state: ApprovalState, turn_id: str) -> Approval | None:
        current = self.approvals.get(approval_id)
        if current is not None and current.state is ApprovalState.PENDING:
            current = dataclasses.replace(current, state=state, decided_turn=turn_id)
            self.approvals[approval_id] = current
        return current

    async def pending(self) -> list[Approval]:
        waiting = [a for a in self.approvals.values() if a.state is ApprovalState.PENDING]
        return sorted(waiting, key=lambda a: (a.expires_at, a.id))


class InMemoryConversationSettingsStore:
    """ConversationSettingsStore in a dict (share one across builds to model a restart)."""

    def __init__(self) -> None:
        self.settings: dict[ConversationKey, ConversationSettings] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def get(self, conversation: ConversationKey) -> ConversationSettings:
        return self.settings.get(conversation, NO_SETTINGS)

    async def put(self, conversation: ConversationKey, settings: ConversationSettings) -> None:
        self.settings[conversation] = settings

    async def busy_policy(self, conversation: ConversationKey) -> BusyPolicy | None:
        return self.settings.get(conversation, NO_SETTINGS).busy_policy


class InMemoryWorkflowStore:
    """WorkflowStore in a dict keyed by (owner, name)."""

    def __init__(self) -> None:
        self.workflows: dict[tuple[str, str], Workflow] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def save(self, owner_id: str, workflow: Workflow) -> None:
        self.workflows[(owner_id, workflow.name)] = workflow

    async def get(self, owner_id: str, name: str) -> Workflow | None:
        return self.workflows.get((owner_id, name))

    async def list_for(self, owner_id: str) -> list[Workflow]:
        return [w for (o, n), w in sorted(self.workflows.items()) if o == owner_id]

    async def delete(self, owner_id: str, name: str) -> bool:
        return self.workflows.pop((owner_id, name), None) is not None


class InMemorySessionStore:
    """The dashboard's logins in a dict (the control plane used to keep them so)."""

    def __init__(self) -> None:
        self.sessions: dict[str, DashboardSession] = {}

    async def add(self, session: DashboardSession) -> None:
        self.sessions[session.id_hash] = session

    async def get(self, id_hash: str, now: datetime) -> DashboardSession | None:
        session = self.sessions.get(id_hash)
        if session is not None and session.expired(now):
            del self.sessions[id_hash]
            return None
        return session

    async def delete(self, id_hash: str) -> bool:
        return self.sessions.pop(id_hash, None) is not None

    async def delete_expired(self, now: datetime) -> int:
        expired = [key for key, session in self.sessions.items() if session.expired(now)]
        for key in expired:
            del self.sessions[key]
        return len(expired)


class InMemoryMcpPinStore:
    def __init__(self) -> None:
        self.pins: dict[str, McpPin] = {}

    async def get(self, server: str) -> McpPin | None:
        return self.pins.get(server)

    async def all(self) -> list[McpPin]:
        return [self.pins[name] for name in sorted(self.pins)]

    async def pin(
        self, server: str, fingerprint: str, tools: tuple[McpToolInfo, ...], at: datetime
    ) -> None:
        self.pins[server] = McpPin(server, fingerprint, tools, at)

    async def hold(self, server: str, fingerprint: str, tools: tuple[McpToolInfo, ...]) -> None:
        pin = self.pins.get(server)
        if pin is not None:
            self.pins[server] = dataclasses.replace(
                pin, pending_fingerprint=fingerprint, pending_tools=tools
            )
