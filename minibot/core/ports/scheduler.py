"""Port: the timer that fires jobs when their next run comes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from minibot.core.jobs import Job

# Called with the job (as stored when it came due) and the occurrence it fires for. It
# records the run as started before acting and as finished after, through the task store.
FireJob = Callable[[Job, datetime], Awaitable[None]]


class Scheduler(Protocol):
    """Fires each scheduled job at its `next_run_at`, once per stored due time.

    Promises:
    - `start()` loads every scheduled job from the task store; jobs already due fire at
      once (run missed-run recovery before starting it).
    - `schedule(job)` must follow every save that makes a job earlier or newly scheduled;
      it is idempotent and never blocks. Jobs moved later or finished need no call.
    - A job never fires twice concurrently. After `fire` returns, the job is re-read from
      the store and scheduled for its new `next_run_at`; a `fire` that leaves the job
      unchanged is logged and not fired again until scheduled anew.
    - An exception from `fire` is logged and does not stop the scheduler.
    - `stop()` fires nothing new and waits (bounded) for runs in flight.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def schedule(self, job: Job) -> None: ...
