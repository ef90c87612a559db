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
_QUEUE_SIZE = 1024
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
    # Bounded: once full, each new event pushes out the oldest (counted in `dropped`).
    pending: deque[LiveEvent] = field(default_factory=lambda: deque(maxlen=_QUEUE_SIZE))
    # Set while the stream waits for its next event; the feed wakes it (once).
    waiter: asyncio.Future[None] | None = None
    dropped: int = 0
    closed: bool = False


class LiveStream:
    """One open stream of the feed. `next_batch` hands over everything queued since its
    last call at once, so a reader pays one wake-up and one write for many events, not
    one per event; iterating gives the events one by one."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    @property
    def dropped(self) -> int:
        """Events this stream lost for reading too slowly."""
        return self._reader.dropped

    async def next_batch(self, timeout_seconds: float) -> list[LiveEvent] | None:
        """The events queued, oldest first, waiting up to `timeout_seconds` for one ([]
        when none came: time for a keep-alive); None once the feed has closed and every
        event before the close was handed over."""
        reader = self._reader
        if not reader.pending and not reader.closed:
            reader.waiter = asyncio.get_running_loop().create_future()
            try:
                # asyncio.timeout arms one timer handle; wait_for would start a task.
                async with asyncio.timeout(timeout_seconds):
                    await reader.waiter
            except TimeoutError:
                return []
            finally:
                reader.waiter = None
        if not reader.pending:
            return None
        batch = list(reader.pending)
        reader.pending.clear()
        return batch

    async def __aiter__(self) -> AsyncIterator[LiveEvent]:
        while (batch := await self.next_batch(3600.0)) is not None:
            for event in batch:
                yield event


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
            # Per stream, an append and at most one wake-up: never a task or a copy.
            if len(reader.pending) == _QUEUE_SIZE:
                reader.dropped += 1
            reader.pending.append(event)
            _wake(reader)
        return event

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[LiveStream]:
        """An open stream of the events from now on; it ends when the feed closes."""
        reader = _Reader(closed=self._closed)
        self._readers.add(reader)
        try:
            yield LiveStream(reader)
        finally:
            self._readers.discard(reader)

    def close(self) -> None:
        self._closed = True
        for reader in self._readers:
            reader.closed = True
            _wake(reader)

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


def _wake(reader: _Reader) -> None:
    waiter = reader.waiter
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
