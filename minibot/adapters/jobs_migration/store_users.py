"""Whether a running minibot holds a SQL job store, checked before a migration copies."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from minibot.adapters.backup.sqlite_files import in_use
from minibot.adapters.sql.database import APPLICATION_NAME, SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.errors import MigrationRefused

_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = :name"
)


def refuse_open_sqlite(url: str) -> None:
    """Refuses a SQLite database another process has open (a daemon keeps its
    connections for its whole life). Runs before this process opens it: the check's
    POSIX lock would otherwise release this process's own SQLite locks."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    if in_use(Path(parsed.database)):
        raise MigrationRefused(
            f"the SQL job store's database {parsed.database} is open in another process: "
            "a minibot is running; stop it first",
            store="sql",
        )


async def refuse_held(database: SqlDatabase, store: SqlJobStore, now: datetime) -> None:
    """Refuses a store whose jobs a live lease covers (a daemon is running them, here or
    on another host), and on PostgreSQL one a daemon is connected to (its connections
    carry minibot's application name, whichever host they come from)."""
    claimed = await store.live_claims(now)
    if claimed:
        raise MigrationRefused(
            f"job(s) {', '.join(claimed)} are claimed under a live lease: a minibot is "
            "running them; stop it first",
            store="sql",
        )
    if database.dialect != "postgresql":
        return

    def sessions(conn: Connection) -> int:
        return int(conn.execute(_SESSIONS, {"name": APPLICATION_NAME}).scalar_one())

    if await database.read(sessions):
        raise MigrationRefused(
            "a minibot is connected to the SQL job store's database "
            f"(application_name {APPLICATION_NAME!r} in pg_stat_activity); stop it first",
            store="sql",
        )
