"""A fresh PostgreSQL schema per test, dropped afterwards, for tests outside tests/adapters/sql."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

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
