"""Fixtures running each persistence contract against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from minibot.adapters.sql.database import SqlDatabase
from tests.services import POSTGRES_URL, require_service

BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'minibot.db'}")
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


@pytest.fixture
async def sqlite_fallback_database(sqlite_database: SqlDatabase) -> SqlDatabase:
    """SQLite as if built without FTS5, to run the portable search path."""
    sqlite_database.full_text_search = False
    return sqlite_database


@pytest.fixture
async def postgres_database() -> AsyncIterator[SqlDatabase]:
    require_service("postgres")
    # A schema per test keeps parallel and repeated runs from seeing each other's rows.
    schema = f"minibot_test_{uuid.uuid4().hex[:12]}"
    database = SqlDatabase(POSTGRES_URL, schema=schema)
    await database.start()
    try:
        yield database
    finally:
        await database.stop()
        engine = create_async_engine(POSTGRES_URL)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await engine.dispose()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest) -> SqlDatabase | None:
    """The database under test, or None for the in-memory fake."""
    if request.param == "memory":
        return None
    return request.getfixturevalue(f"{request.param}_database")
