"""The real clock, and the sleep-until-woken primitive the scheduler waits with."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class SleepingClock(Protocol):
    """A Clock that can also wait: `sleep(seconds, wake)` returns when `seconds` have
    passed on this clock or `wake` is set, whichever comes first."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float, wake: asyncio.Event) -> None: ...


class SystemClock:
    """Wall time in UTC; sleeps on the event loop's timer, so an idle wait costs nothing."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float, wake: asyncio.Event) -> None:
        if wake.is_set():
            return
        handle = asyncio.get_running_loop().call_later(max(seconds, 0.0), wake.set)
        try:
            await wake.wait()
        finally:
            handle.cancel()
