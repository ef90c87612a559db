"""Port: where the dashboard's logins are kept, shared by restarts and replicas."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from minibot.core.dashboard_sessions import DashboardSession


class SessionStore(Protocol):
    """`add` keeps a session (a known `id_hash` is replaced). `get` returns the session
    of that hash, or None when there is none or it has expired at `now` (an expired one
    is deleted then). `delete` removes one (logout; True if it was there).
    `delete_expired` removes every session expired at `now` and returns how many."""

    async def add(self, session: DashboardSession) -> None: ...

    async def get(self, id_hash: str, now: datetime) -> DashboardSession | None: ...

    async def delete(self, id_hash: str) -> bool: ...

    async def delete_expired(self, now: datetime) -> int: ...
