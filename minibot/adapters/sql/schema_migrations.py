"""The schema's version: reading it, migrating it with alembic, comparing it with the tables."""

from __future__ import annotations

import functools
import re
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Constraint, Index, MetaData, Table, inspect, text
from sqlalchemy.exc import OperationalError

from minibot.adapters.sql.tables import (
    NOTES_FTS,
    NOTES_FTS_TRIGGERS,
    PG_NOTES_FTS,
    PG_NOTES_FTS_INDEX,
    SQLITE_NOTES_FTS,
    metadata,
)
from minibot.core.errors import SchemaBehind, StoreError

if TYPE_CHECKING:
    from alembic.config import Config

# alembic finds its scripts through the package (a wheel needs no alembic.ini).
SCRIPT_LOCATION = "minibot.adapters.sql:migrations"
VERSION_TABLE = "alembic_version"
UPGRADE_HINT = "run `minibot db upgrade`"
# The PostgreSQL advisory lock taken around a migration (one per database; any fixed
# number that nothing else on the server uses: "minibot" in ASCII).
MIGRATION_LOCK_KEY = 0x6D696E69626F74

_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?:: [^=]+)? = "([^"]+)"', re.MULTILINE)


@functools.cache
def _revisions() -> tuple[frozenset[str], str]:
    """Every revision and the head, read from the version files' headers: importing
    alembic costs a third of a second, which a start whose schema is current skips."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (files("minibot.adapters.sql.migrations") / "versions").iterdir():
        if script.name.endswith(".py"):
            source = script.read_text(encoding="utf-8")
            revisions.update(_REVISION.findall(source))
            parents.update(_DOWN_REVISION.findall(source))
    heads = revisions - parents
    if len(heads) != 1:
        raise StoreError(f"the migrations must form one line; heads: {sorted(heads)}")
    return frozenset(revisions), heads.pop()


def head_revision() -> str:
    """The newest revision: the schema this code reads and writes."""
    return _revisions()[1]


def known_revisions() -> frozenset[str]:
    """Every revision this release has a migration for."""
    return _revisions()[0]


def stored_revision(conn: Connection) -> str | None:
    """The database's revision; None when it has none (empty, or made before migrations)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    value = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return None if value is None else str(value)


def made_before_migrations(conn: Connection) -> bool:
    """A database of a release before migrations: minibot's tables without a version."""
    return stored_revision(conn) is None and inspect(conn).has_table("minibot_messages")


def migration_lock(conn: Connection) -> None:
    """On PostgreSQL, waits for the migration lock of this database and holds it to the end
    of the transaction: of N replicas starting together one migrates, the others wait and
    then find the schema at the head. (SQLite has one writer anyway.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def prepare(conn: Connection, *, migrate: bool) -> bool:
    """Brings the schema to the head (or, with `migrate` false, refuses one that is not
    there with `SchemaBehind`); True when full-text search over notes is available."""
    if migrate:
        migration_lock(conn)
    current = stored_revision(conn)
    head = head_revision()
    if current != head:
        if current is not None and current not in _revisions()[0]:
            raise SchemaBehind(
                f"the database schema is at revision {current}, which this minibot does not "
                f"know (made by a newer release?); it needs {head}",
                current=current,
                head=head,
            )
        if current is None and migrate and _empty(conn):
            create_at_head(conn, head)
            return full_text_search(conn)
        if not migrate:
            raise SchemaBehind(
                f"the database schema is at {describe(current, conn)}, this minibot needs "
                f"{head}, and [memory] auto_migrate is false: {UPGRADE_HINT}",
                current=current,
                head=head,
            )
        upgrade(conn)
    return full_text_search(conn)


def _empty(conn: Connection) -> bool:
    return not any(name.startswith("minibot_") for name in inspect(conn).get_table_names())


def create_at_head(conn: Connection, head: str) -> None:
    """Makes the head schema in an empty database from the tables themselves and stamps it,
    without loading alembic (which costs a fresh daemon ~0.25 s and ~20 MB it would keep)."""
    metadata.create_all(conn)
    if conn.dialect.name == "postgresql":
        conn.execute(text(PG_NOTES_FTS))
    elif conn.dialect.name == "sqlite":
        try:
            for statement in SQLITE_NOTES_FTS:
                conn.execute(text(statement))
        except OperationalError:
            pass  # an SQLite built without FTS5: notes are searched by the portable ranking
    conn.execute(
        text(
            f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
            f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
        )
    )
    conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:head)"), {"head": head})


def describe(revision: str | None, conn: Connection) -> str:
    if revision is not None:
        return f"revision {revision}"
    if made_before_migrations(conn):
        return "no revision (made by a release before migrations)"
    return "no revision (empty)"


def full_text_search(conn: Connection) -> bool:
    if conn.dialect.name == "postgresql":
        return True
    if conn.dialect.name != "sqlite":
        return False
    return inspect(conn).has_table(NOTES_FTS)


def upgrade(conn: Connection, revision: str = "head") -> None:
    from alembic import command

    migration_lock(conn)
    command.upgrade(_config(conn), revision)


def downgrade(conn: Connection, revision: str) -> None:
    from alembic import command

    migration_lock(conn)
    command.downgrade(_config(conn), revision)


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    # env.py migrates on this connection, inside its transaction.
    config.attributes["connection"] = conn
    return config


def migration_options(dialect: str) -> dict[str, Any]:
    """How alembic compares and alters this schema; env.py and `differences` share them."""
    return {
        "target_metadata": metadata,
        # SQLite alters a table by copying it: alembic's batch mode does that.
        "render_as_batch": dialect == "sqlite",
        "compare_type": True,
        "include_name": _ours,
    }


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """Only minibot's tables, without what autogenerate cannot describe (the FTS objects):
    a database shared with another application keeps its tables out of our comparisons."""
    if type_ == "table":
        return name is not None and name.startswith("minibot_") and not name.startswith(NOTES_FTS)
    if type_ == "index":
        return name != PG_NOTES_FTS_INDEX
    return True


def differences(conn: Connection, target: MetaData = metadata) -> list[str]:
    """How the database differs from the tables in code (empty: they match), one line each."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts=migration_options(conn.dialect.name))
    found = [_describe(diff) for diff in compare_metadata(context, target)]
    return found + _missing_search_objects(conn)


def _describe(diff: Any) -> str:
    if isinstance(diff, list):  # alembic groups the changes of one column
        return "; ".join(_describe(item) for item in diff)
    kind, *rest = diff
    if kind.startswith("modify_"):
        _, table, column, _, old, new = rest
        return f"{kind} {table}.{column}: database has {old!r}, code has {new!r}"
    names = []
    for item in rest:
        if isinstance(item, Column):
            names.append(f"{item.table.name}.{item.name}")
        elif isinstance(item, Table | Index | Constraint):
            names.append(str(item.name))
    return f"{kind} {' '.join(names) or repr(rest)}"


def _missing_search_objects(conn: Connection) -> list[str]:
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            text(
                "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :name"
            ),
            {"name": PG_NOTES_FTS_INDEX},
        ).first()
        return [] if found else [f"missing full-text index {PG_NOTES_FTS_INDEX}"]
    if conn.dialect.name != "sqlite":
        return []
    if not conn.execute(text("SELECT sqlite_compileoption_used('ENABLE_FTS5')")).scalar():
        return []  # an SQLite without FTS5 searches notes by the portable ranking
    present = set(conn.execute(text("SELECT name FROM sqlite_master")).scalars())
    return [
        f"missing full-text object {name}"
        for name in (NOTES_FTS, *NOTES_FTS_TRIGGERS)
        if name not in present
    ]
