"""The hand-written SQL of the fast paths, checked against the SQLAlchemy tables and the
migrated schema: a renamed column or table fails here, not on a user's first message."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import minibot.adapters.sql
from minibot.adapters.sql import schema_migrations as schema
from minibot.adapters.sql import tables
from tests.services import POSTGRES_URL, require_service

_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b")


def _raw_statements() -> dict[str, str]:
    """Every module-level SQL string of the SQL adapters, by module and name."""
    found = {}
    for module_info in pkgutil.iter_modules(minibot.adapters.sql.__path__):
        module = importlib.import_module(f"minibot.adapters.sql.{module_info.name}")
        for name, value in vars(module).items():
            if isinstance(value, str) and _STATEMENT.match(value):
                found[f"{module_info.name}.{name}"] = value
    return found


STATEMENTS = _raw_statements()
SQLITE = {key: sql for key, sql in STATEMENTS.items() if ".PG_" not in key and "._PG_" not in key}
POSTGRES = {key: sql for key, sql in STATEMENTS.items() if key not in SQLITE}


def test_the_fast_paths_statements_are_all_found() -> None:
    names = {key.split(".")[0] for key in STATEMENTS}
    assert {
        "conversation_memory",
        "inbox",
        "usage_ledger",
        "delivery_ledger",
        "note_store",
    } <= names
    assert POSTGRES


def _explain(conn: sqlite3.Connection, sql: str) -> None:
    named = sorted(set(re.findall(r":(\w+)", sql)))
    params: dict[str, None] | tuple[None, ...] = (
        dict.fromkeys(named) if named else (None,) * sql.count("?")
    )
    conn.execute(f"EXPLAIN {sql}", params)


@pytest.mark.parametrize("key", sorted(SQLITE))
def test_a_sqlite_statement_reads_the_tables_in_code(key: str, tmp_path: Path) -> None:
    # The full-text index is not a Table: its statements are checked on the migrated schema.
    if tables.NOTES_FTS in SQLITE[key]:
        pytest.skip("reads the full-text index, which only the migrations describe")
    engine = create_engine(f"sqlite:///{tmp_path / 'tables.db'}")
    tables.metadata.create_all(engine)
    engine.dispose()
    with sqlite3.connect(tmp_path / "tables.db") as conn:
        _explain(conn, SQLITE[key])


@pytest.mark.parametrize("key", sorted(SQLITE))
def test_a_sqlite_statement_reads_the_migrated_schema(key: str, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with engine.begin() as conn:
        schema.upgrade(conn)
    engine.dispose()
    with sqlite3.connect(tmp_path / "migrated.db") as conn:
        _explain(conn, SQLITE[key])


@pytest.mark.parametrize("key", sorted(POSTGRES))
async def test_a_postgres_statement_reads_the_migrated_schema(key: str) -> None:
    require_service("postgres")
    engine = create_async_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            # A transaction rolled back: the schema lives and dies inside it.
            await conn.execute(text('CREATE SCHEMA "minibot_raw_sql"'))
            await conn.execute(text('SET LOCAL search_path TO "minibot_raw_sql"'))
            await conn.run_sync(schema.upgrade)
            names = set(re.findall(r":(\w+)", POSTGRES[key]))
            params = {name: 1 if name == "limit" else "x" for name in names}
            await conn.execute(text(f"EXPLAIN {POSTGRES[key]}"), params)
            await conn.rollback()
    finally:
        await engine.dispose()
