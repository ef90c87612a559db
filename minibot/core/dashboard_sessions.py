"""A dashboard login: what is kept of it, and how its cookie's id is stored (hashed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """One login to the dashboard. `id_hash` is `session_id_hash` of the cookie's value:
    the store never holds the value itself, so reading the table logs nobody in.
    `csrf` is the secret its state-changing requests must carry."""

    id_hash: str
    owner: str
    csrf: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now


def session_id_hash(session_id: str) -> str:
    """The stored key of a session cookie's value: SHA-256, hex. The value is 256 random
    bits, so a plain hash (no salt, no stretching) cannot be reversed or guessed."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()
