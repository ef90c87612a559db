"""A fresh PostgreSQL schema or database per test, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.services import POSTGRES_URL, require_service


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """The name of a new schema on the machine's PostgreSQL (skips when it is absent)."""
    require_service("postgres")
    schema = f"minibot_test_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        engine = create_async_engine(POSTGRES_URL)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            await engine.dispose()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a new database on the machine's PostgreSQL, dropped afterwards, for a
    config that names a database rather than a schema (skips when PostgreSQL is absent)."""
    require_service("postgres")
    name = f"minibot_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(POSTGRES_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()
