"""Streaming replies: one message edited as the text grows, throttled and coalesced."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiogram import Bot

from minibot.adapters.messaging.telegram.api_errors import call_api, describe
from minibot.adapters.messaging.telegram.markdown import MAX_MESSAGE_CHARS
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.core.errors import NotModified
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.shared.text_split import split_text, utf16_length

log = logging.getLogger(__name__)

_STALE_AFTER_SECONDS = 600.0


@dataclass(slots=True)
class _Draft:
    chat_id: str
    latest: str
    shown: str = ""
    message_id: int | None = None
    last_edit_at: float = 0.0
    created_at: float = 0.0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    flusher: asyncio.Task[None] | None = None


class DraftEditor:
    """The first draft of a turn is sent as a message (recorded as chunk 0 of the turn);
    later drafts edit it as plain text, at most once per `interval_seconds`, always
    ending with the latest text. `finish` hands the message over to the final delivery,
    which formats it. Draft failures are logged, never raised: the final reply still
    goes out."""

    def __init__(
        self, bot: Bot, throttle: ChatThrottle, ledger: DeliveryLedger, interval_seconds: float
    ) -> None:
        self._bot = bot
        self._throttle = throttle
        self._ledger = ledger
        self._interval_seconds = interval_seconds
        self._drafts: dict[str, _Draft] = {}

    async def show(self, chat_id: str, turn_id: str, text: str) -> None:
        text = _clip(text)
        if not text.strip():
            return
        draft = self._drafts.get(turn_id)
        if draft is None:
            self._forget_stale()
            now = asyncio.get_running_loop().time()
            draft = self._drafts[turn_id] = _Draft(chat_id, text, created_at=now)
            try:
                await self._open(draft, turn_id)
            finally:
                draft.ready.set()
            return
        draft.latest = text
        if draft.flusher is None or draft.flusher.done():
            draft.flusher = asyncio.create_task(self._flush(draft), name=f"draft:{turn_id}")

    async def finish(self, turn_id: str) -> int | None:
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
        try:
            recorded = (await self._ledger.sent(turn_id)).get(0)
            if recorded is not None:
                # A draft from before a restart: keep editing the message already there.
                draft.message_id = int(recorded)
                await self._edit(draft, draft.latest)
                return
            async with self._throttle.lane(draft.chat_id):
                message = await self._throttle.call(
                    draft.chat_id,
                    lambda: call_api(
                        draft.chat_id,
                        lambda: self._bot.send_message(
                            chat_id=int(draft.chat_id), text=draft.latest
                        ),
                    ),
                )
            draft.message_id = message.message_id
            draft.shown = draft.latest
            draft.last_edit_at = asyncio.get_running_loop().time()
            await asyncio.shield(self._ledger.record(turn_id, 0, str(message.message_id)))
        except Exception as exc:
            # A draft is a preview (its record too): the final reply goes out without it.
            log.warning("telegram draft not shown", extra={"error": describe(exc)})

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
        message_id = draft.message_id
        try:
            async with self._throttle.lane(draft.chat_id):
                await self._throttle.call(
                    draft.chat_id,
                    lambda: call_api(
                        draft.chat_id,
                        lambda: self._bot.edit_message_text(
                            chat_id=int(draft.chat_id), message_id=message_id, text=text
                        ),
                    ),
                )
        except NotModified:
            pass
        except Exception as exc:
            # A draft is a preview: whatever stops it, the final reply still goes out.
            log.warning("telegram draft edit failed", extra={"error": describe(exc)})
        # Even a failed edit counts: the pace protects Telegram's limits either way.
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


def _clip(text: str) -> str:
    # A draft is a preview: past the limit, show the start; the final reply splits.
    if utf16_length(text) <= MAX_MESSAGE_CHARS:
        return text
    return split_text(text, MAX_MESSAGE_CHARS - 1, measure=utf16_length)[0] + "…"
