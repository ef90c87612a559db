"""Sending limits kept in this process alone: a global rate and shared-nothing pauses."""

from __future__ import annotations

import asyncio


class LocalSendLimits:
    """The `SendLimits` port for one process: sends are spaced at least
    1/`max_sends_per_second` apart, and pauses hold in this process only. The fallback
    of the shared limits while their store is away (then with a share of the rate)."""

    def __init__(self, max_sends_per_second: float) -> None:
        self._interval = 1.0 / max_sends_per_second
        self._next = 0.0
        self._pauses: dict[str, float] = {}

    async def acquire(self, chat_id: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            resume = max(self._pauses.get(chat_id, 0.0), self._pauses.get("", 0.0))
            if resume > now:
                await asyncio.sleep(resume - now)
                continue
            if self._next > now:
                # Looked at again on waking: another call may have taken the slot.
                await asyncio.sleep(self._next - now)
                continue
            self._next = now + self._interval
            return

    async def pause(self, chat_id: str, seconds: float) -> None:
        now = asyncio.get_running_loop().time()
        self._pauses = {chat: end for chat, end in self._pauses.items() if end > now}
        self._pauses[chat_id] = max(self._pauses.get(chat_id, 0.0), now + seconds)
