"""Port: being the one among replicas that does something only one may do (poll Telegram)."""

from __future__ import annotations

from typing import Protocol


class Leadership(Protocol):
    """One holder among all replicas at any time.

    `acquire` waits until this process holds the leadership. `held` is True only while
    the holder can prove it still holds it (a recent heartbeat): it turns False before any
    other replica could take over, so a holder that checks `held` before each step never
    overlaps with the next holder. `lost` waits until `held` turns False (a missed
    heartbeat, a lost connection). `release` gives it up; safe to call when not held."""

    async def acquire(self) -> None: ...

    @property
    def held(self) -> bool: ...

    async def lost(self) -> None: ...

    async def release(self) -> None: ...
