"""A clock that moves only when a test says so, waking sleepers whose time has come."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class ManualClock:
    """Starts at `start` (UTC); `advance()` moves it and wakes every sleeper now due."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._monotonic = 1000.0
        self._sleepers: list[tuple[float, asyncio.Event]] = []
        self.sleep_calls: list[float] = []
        # Raised by the next `sleep`, once: a clock that breaks, to test supervision.
        self.fail_next_sleep: Exception | None = None

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float, wake: asyncio.Event) -> None:
        self.sleep_calls.append(seconds)
        if self.fail_next_sleep is not None:
            error, self.fail_next_sleep = self.fail_next_sleep, None
            raise error
        if seconds <= 0 or wake.is_set():
            return
        entry = (self._monotonic + seconds, wake)
        self._sleepers.append(entry)
        try:
            await wake.wait()
        finally:
            self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
        for deadline, wake in list(self._sleepers):
            if deadline <= self._monotonic:
                wake.set()

    def set(self, when: datetime) -> None:
        self.advance((when - self._now).total_seconds())

    @property
    def sleeping(self) -> int:
        return len(self._sleepers)
