"""Streamed replies: one message edited as the text grows, throttled and coalesced."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError, NotModified
from minibot.core.ports.delivery_ledger import DeliveryLedger

log = logging.getLogger(__name__)

_STALE_AFTER_SECONDS = 600.0


class DraftSurface(Protocol):
    """What drafts need of a channel's sender: one plain message sent, then edited."""

    async def send_chunk(
        self, conversation: ConversationKey, text: str, *, formatted: bool
    ) -> str: ...

    async def edit_chunk(
        self, conversation: ConversationKey, message_id: str, text: str, *, formatted: bool
    ) -> None: ...


@dataclass(slots=True)
class _Draft:
    conversation: ConversationKey
    latest: str
    shown: str = ""
    message_id: str | None = None
    last_edit_at: float = 0.0
    created_at: float = 0.0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    flusher: asyncio.Task[None] | None = None

    @property
    def chat_id(self) -> str:
        return self.conversation.chat_id


class DraftEditor:
    """The first draft of a turn is sent as a message (recorded as chunk 0 of the turn);
    later drafts edit it as plain text, at most once per `interval_seconds`, always
    ending with the latest text. `finish` hands the message over to the final delivery,
    which formats it. `clip` cuts a draft to what one message takes. Draft failures are
    logged, never raised: the final reply still goes out."""

    def __init__(
        self,
        surface: DraftSurface,
        throttle: ChatThrottle,
        ledger: DeliveryLedger,
        *,
        interval_seconds: float,
        clip: Callable[[str], str],
        platform: str,
    ) -> None:
        self._surface = surface
        self._throttle = throttle
        self._ledger = ledger
        self._interval_seconds = interval_seconds
        self._clip = clip
        self._platform = platform
        self._drafts: dict[str, _Draft] = {}

    async def show(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        text = self._clip(text)
        if not text.strip():
            return
        draft = self._drafts.get(turn_id)
        if draft is None:
            self._forget_stale()
            now = asyncio.get_running_loop().time()
            draft = self._drafts[turn_id] = _Draft(conversation, text, created_at=now)
            try:
                await self._open(draft, turn_id)
            finally:
                draft.ready.set()
            return
        draft.latest = text
        if draft.flusher is None or draft.flusher.done():
            draft.flusher = asyncio.create_task(self._flush(draft), name=f"draft:{turn_id}")

    async def finish(self, turn_id: str) -> str | None:
        """Stop editing the turn's draft and return its message id (None: no draft)."""
        draft = self._drafts.pop(turn_id, None)
        if draft is None:
            return None
        await draft.ready.wait()
        if draft.flusher is not None:
            draft.flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await draft.flusher
        # The final, formatted edit keeps to the same pace as the drafts before it.
        await self._pace(draft)
        return draft.message_id

    async def close(self) -> None:
        drafts, self._drafts = list(self._drafts.values()), {}
        for draft in drafts:
            if draft.flusher is not None:
                draft.flusher.cancel()
        await asyncio.gather(
            *(d.flusher for d in drafts if d.flusher is not None), return_exceptions=True
        )

    async def _open(self, draft: _Draft, turn_id: str) -> None:
        surface = self._surface
        try:
            recorded = (await self._ledger.sent(turn_id)).get(0)
            if recorded is not None:
                # A draft from before a restart: keep editing the message already there.
                draft.message_id = recorded
                await self._edit(draft, draft.latest)
                return
            async with self._throttle.lane(draft.chat_id):
                message_id = await self._throttle.call(
                    draft.chat_id,
                    lambda: surface.send_chunk(draft.conversation, draft.latest, formatted=False),
                )
            draft.message_id = message_id
            draft.shown = draft.latest
            draft.last_edit_at = asyncio.get_running_loop().time()
            await asyncio.shield(self._ledger.record(turn_id, 0, message_id))
        except Exception as exc:
            # A draft is a preview (its record too): the final reply goes out without it.
            log.warning(f"{self._platform} draft not shown", extra={"error": _safe(exc)})

    async def _flush(self, draft: _Draft) -> None:
        await draft.ready.wait()
        while draft.message_id is not None and draft.latest != draft.shown:
            await self._pace(draft)
            await self._edit(draft, draft.latest)

    async def _pace(self, draft: _Draft) -> None:
        loop = asyncio.get_running_loop()
        wait = draft.last_edit_at + self._interval_seconds - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _edit(self, draft: _Draft, text: str) -> None:
        assert draft.message_id is not None
        message_id, surface = draft.message_id, self._surface
        try:
            async with self._throttle.lane(draft.chat_id):
                await self._throttle.call(
                    draft.chat_id,
                    lambda: surface.edit_chunk(
                        draft.conversation, message_id, text, formatted=False
                    ),
                )
        except NotModified:
            pass
        except Exception as exc:
            # A draft is a preview: whatever stops it, the final reply still goes out.
            log.warning(f"{self._platform} draft edit failed", extra={"error": _safe(exc)})
        # Even a failed edit counts: the pace protects the platform's limits either way.
        draft.shown = text
        draft.last_edit_at = asyncio.get_running_loop().time()

    def _forget_stale(self) -> None:
        # A turn that failed never calls `finish`; its draft must not stay forever.
        now = asyncio.get_running_loop().time()
        for turn_id, draft in list(self._drafts.items()):
            if now - draft.created_at > _STALE_AFTER_SECONDS:
                if draft.flusher is not None:
                    draft.flusher.cancel()
                del self._drafts[turn_id]


def _safe(exc: BaseException) -> str:
    # The core's channel errors carry a description made safe at the edge; anything else
    # is named by its type only (a library's message may quote a request).
    return str(exc) if isinstance(exc, ChannelError) else type(exc).__name__
