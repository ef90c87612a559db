"""JobLeaseKeeper: renews this process's claims on jobs, and frees claims whose lease ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.errors import StoreError
from minibot.core.jobs import Job

log = logging.getLogger(__name__)


class JobLeaseKeeper:
    """A service whose loop extends this process's claims every third of the lease, so a
    run longer than the lease (a slow model) is not taken over by another process while
    this one lives. A renewal that fails is logged and tried at the next turn: two more
    turns remain before the lease ends.

    At each turn it also frees the claims whose lease ended (a process that died holding
    them) and hands each job, scheduled again for the same occurrence, to `schedule`: a
    scheduler that was running when the job was claimed had dropped it, and would
    otherwise never fire it."""

    name = "job-leases"

    def __init__(
        self,
        store: SqlJobStore,
        now: Callable[[], datetime],
        schedule: Callable[[Job], None] = lambda job: None,
    ) -> None:
        self._store = store
        self._now = now
        self.schedule = schedule
        self._interval = store.lease.total_seconds() / 3
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval)
            if self._stopped.is_set():
                return
            try:
                await self._store.renew_leases(self._now())
                lapsed = await self._store.release_lapsed(self._now())
            except StoreError as exc:
                log.warning("could not renew the job claims", extra={"error": str(exc)})
                continue
            if lapsed:
                log.warning(
                    "jobs whose claim lapsed are run again",
                    extra={"jobs": ",".join(job.id for job in lapsed)},
                )
            for job in lapsed:
                self.schedule(job)

    async def stop(self) -> None:
        self._stopped.set()
