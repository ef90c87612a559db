"""The stdlib sqlite3 connection under a SQLAlchemy one, for the per-message statements."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sqlalchemy import Connection

# SQLAlchemy's SQLite DATETIME storage format, so rows written either way read the same.
_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def driver(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection inside `conn` (its transaction is still `conn`'s).

    The hot statements run on it directly: SQLAlchemy's per-statement work (cache keys,
    compiled parameters, result processing) costs several times the statement itself."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


def to_db(value: datetime) -> str:
    """A UTC time as UtcDateTime stores it on SQLite (naive UTC text)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(_FORMAT)


def from_db(value: str | None) -> datetime | None:
    """A stored time back as an aware UTC datetime, as UtcDateTime returns it."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)
