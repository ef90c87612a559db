"""The dashboard session store contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.session_store import SqlSessionStore
from minibot.adapters.sql.tables import dashboard_sessions
from minibot.core.dashboard_sessions import DashboardSession, session_id_hash
from minibot.core.ports.session_store import SessionStore
from tests.fakes.memory import InMemorySessionStore

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _store(database: SqlDatabase | None) -> SessionStore:
    return InMemorySessionStore() if database is None else SqlSessionStore(database)


def _session(cookie: str, expires_at: datetime = NOW + timedelta(hours=12)) -> DashboardSession:
    return DashboardSession(session_id_hash(cookie), "web:owner", "a-csrf-secret", expires_at)


async def test_a_session_comes_back_by_its_hash_until_it_expires(
    database: SqlDatabase | None,
) -> None:
    store = _store(database)
    session = _session("cookie-a", NOW + timedelta(hours=1))
    await store.add(session)
    assert await store.get(session.id_hash, NOW) == session
    assert await store.get(session_id_hash("cookie-b"), NOW) is None
    if database is not None:
        # Another store over the same database (a restart, a second replica) sees it.
        assert await SqlSessionStore(database).get(session.id_hash, NOW) == session
    assert await store.get(session.id_hash, NOW + timedelta(hours=1)) is None, "expired"
    assert await store.delete(session.id_hash) is False, "an expired session read is deleted"


async def test_logout_deletes_and_expired_ones_are_swept(database: SqlDatabase | None) -> None:
    store = _store(database)
    live = _session("live")
    stale = _session("stale", NOW - timedelta(seconds=1))
    await store.add(live)
    await store.add(stale)
    assert await store.delete_expired(NOW) == 1
    assert await store.get(live.id_hash, NOW) == live
    assert await store.delete(live.id_hash) is True
    assert await store.get(live.id_hash, NOW) is None
    assert await store.delete(live.id_hash) is False


async def test_the_cookie_value_itself_is_never_stored(sqlite_database: SqlDatabase) -> None:
    store = SqlSessionStore(sqlite_database)
    await store.add(_session("the-secret-cookie-value"))

    def rows(conn):  # type: ignore[no-untyped-def]
        return [tuple(row) for row in conn.execute(dashboard_sessions.select()).all()]

    stored = await sqlite_database.read(rows)
    assert len(stored) == 1
    assert all("the-secret-cookie-value" not in str(value) for value in stored[0])
    assert stored[0][0] == session_id_hash("the-secret-cookie-value")
