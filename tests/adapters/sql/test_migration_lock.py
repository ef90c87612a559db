"""N replicas starting together on one empty PostgreSQL database migrate it once: the
others wait on the migration lock and find the schema at the head."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from minibot.adapters.sql.schema_migrations import head_revision
from tests.sql_schemas import postgres_database

ROOT = Path(__file__).resolve().parents[3]

# One replica's start as far as the schema goes: the daemon's database service.
_REPLICA = """
import asyncio, sys
from minibot.adapters.sql.database import SqlDatabase

async def main() -> None:
    database = SqlDatabase(sys.argv[1], auto_migrate=True)
    await database.start()
    await database.stop()
    print("started", flush=True)

asyncio.run(main())
"""


async def _replica(url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _REPLICA,
        url,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


@pytest.mark.slow
async def test_three_replicas_started_together_migrate_the_schema_once() -> None:
    async with postgres_database() as url:
        results = await asyncio.gather(*(_replica(url) for _ in range(3)))
        for code, output in results:
            assert code == 0 and output.strip().endswith("started"), output
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                versions = await conn.execute(text("SELECT version_num FROM alembic_version"))
                assert [row[0] for row in versions] == [head_revision()]
        finally:
            await engine.dispose()
