"""The live feed: bus events and deliveries fanned out to the control plane's streams."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from minibot.core.events import (
    Event,
    JobCancelled,
    JobCompleted,
    JobCreated,
    JobFailed,
    JobMissed,
    JobStarted,
    JobUpdated,
    MessageReceived,
)
from minibot.core.ports.bus import Bus

log = logging.getLogger(__name__)

# Events a slow reader may fall behind by before its oldest are dropped: a stream that
# does not keep up loses events, the daemon never waits for it.
_QUEUE_SIZE = 256
# The newest events kept for a page that opens (the overview's recent list).
_RECENT = 200


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One thing that happened. `data` is safe to show anyone holding the token;
    `content` (a message's or a reply's text) is sent only to streams that ask for it."""

    id: int
    kind: str
    at: datetime
    data: dict[str, Any]
    content: str | None = None

    def as_json(self, *, with_content: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            **self.data,
        }
        if with_content and self.content is not None:
            body["content"] = self.content
        return body


@dataclass(eq=False)
class _Reader:
    queue: asyncio.Queue[LiveEvent | None] = field(
        default_factory=lambda: asyncio.Queue(_QUEUE_SIZE)
    )
    dropped: int = 0


class LiveFeed:
    """Subscribes to the bus's events (message received, job fired / failed / missed /
    changed) and takes what others report (`emit`: a reply sent, a service degraded);
    every open stream (`stream()`) gets each event in order. `emit` never waits: a reader
    whose queue is full loses its oldest event. `close()` ends every stream (at stop)."""

    def __init__(self) -> None:
        self._readers: set[_Reader] = set()
        self._ids = itertools.count(1)
        self._recent: deque[LiveEvent] = deque(maxlen=_RECENT)
        self._counts: dict[str, int] = {}
        self._per_channel: dict[str, dict[str, int]] = {}
        self._last_errors: dict[str, str] = {}
        self._closed = False

    def subscribe_to(self, bus: Bus) -> None:
        bus.subscribe(MessageReceived, self._on_message, name="live-feed", inline=True)
        job_events: tuple[type[Event], ...] = (
            JobStarted,
            JobCompleted,
            JobFailed,
            JobMissed,
            JobCreated,
            JobUpdated,
            JobCancelled,
        )
        for job_event in job_events:
            bus.subscribe(job_event, self._on_job, name="live-feed", inline=True)

    @property
    def readers(self) -> int:
        return len(self._readers)

    @property
    def counts(self) -> dict[str, int]:
        """How many events of each kind since start."""
        return dict(self._counts)

    @property
    def channel_counters(self) -> dict[str, dict[str, int]]:
        """Per channel, how many events of each kind (messages received, replies sent)."""
        return {name: dict(counts) for name, counts in self._per_channel.items()}

    @property
    def last_errors(self) -> dict[str, str]:
        """Per channel, the last delivery error reported."""
        return dict(self._last_errors)

    def recent(self) -> list[LiveEvent]:
        return list(self._recent)

    def emit(self, kind: str, data: dict[str, Any], content: str | None = None) -> LiveEvent:
        event = LiveEvent(next(self._ids), kind, datetime.now(UTC), data, content)
        self._recent.append(event)
        self._counts[kind] = self._counts.get(kind, 0) + 1
        conversation = data.get("conversation")
        if isinstance(conversation, str):
            channel = conversation.partition(":")[0]
            counts = self._per_channel.setdefault(channel, {})
            counts[kind] = counts.get(kind, 0) + 1
            if "error" in data:
                self._last_errors[channel] = str(data["error"])
        for reader in self._readers:
            _offer(reader, event)
        return event

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        """An open stream of the events from now on; it ends when the feed closes."""
        reader = _Reader()
        if self._closed:
            reader.queue.put_nowait(None)
        self._readers.add(reader)
        try:
            yield _drain(reader)
        finally:
            self._readers.discard(reader)

    def close(self) -> None:
        self._closed = True
        for reader in self._readers:
            while True:
                try:
                    reader.queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    reader.queue.get_nowait()

    async def _on_message(self, event: MessageReceived) -> None:
        message = event.message
        self.emit(
            "message_received",
            {
                "conversation": str(message.conversation),
                "sender": message.sender.identity,
            },
            message.text,
        )

    async def _on_job(self, event: Event) -> None:
        kind = {
            JobStarted: "job_fired",
            JobCompleted: "job_completed",
            JobFailed: "job_failed",
            JobMissed: "job_missed",
            JobCreated: "job_created",
            JobUpdated: "job_updated",
            JobCancelled: "job_cancelled",
        }[type(event)]
        data: dict[str, Any] = {"job_id": getattr(event, "job_id", None)}
        if isinstance(event, (JobFailed, JobMissed)):
            data["reason"] = event.reason
        if isinstance(event, (JobStarted, JobCompleted, JobFailed, JobMissed)):
            data["occurrence"] = event.occurrence.isoformat()
        self.emit(kind, data)


def _offer(reader: _Reader, event: LiveEvent) -> None:
    try:
        reader.queue.put_nowait(event)
    except asyncio.QueueFull:
        reader.queue.get_nowait()
        reader.dropped += 1
        reader.queue.put_nowait(event)


async def _drain(reader: _Reader) -> AsyncIterator[LiveEvent]:
    while True:
        event = await reader.queue.get()
        if event is None:
            return
        yield event
