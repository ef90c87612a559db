"""A separate process claiming every due job of a SQL job store, then holding the claims
until it is killed: `python -m tests.adapters.sql.job_claimer_child URL SCHEMA LEASE`."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore


async def main(url: str, schema: str, lease_seconds: float) -> None:
    store = SqlJobStore(
        SqlDatabase(url, schema=schema or None), lease_seconds=lease_seconds, claimer="child"
    )
    await store.start()
    now = datetime.now(UTC)
    due = [job.id for job in await store.due_jobs(now)]
    started = await store.start_runs(due, now)
    sys.stdout.write(f"claimed {len(started)}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()  # holds the claims, renewing nothing, until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
