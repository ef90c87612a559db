"""Port: the timer that fires jobs when their next run comes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from minibot.core.jobs import Job, RunRecord

# Called with the job, already RUNNING, and its open ledger entry (`run.occurrence`,
# `run.attempts`): both are durable before the call. It performs the effect, keyed by
# idempotency_key(job.id, run.occurrence), then saves the job's next state together with
# `run.finish(outcome, ...)`, or `job.retry(...)` alone to try the occurrence again.
FireJob = Callable[[Job, RunRecord], Awaitable[None]]


class Scheduler(Protocol):
    """Fires each scheduled job at its `next_run_at`, once per stored due time.

    Promises:
    - `start()` loads every scheduled job's next run from the job store; jobs already due
      fire at once (run missed-run recovery before starting it).
    - `schedule(job)` must follow every save that makes a job earlier or newly scheduled;
      it is idempotent and never blocks. Jobs moved later or finished need no call.
    - Before `fire` is called, the job is saved as RUNNING with an open run record, in
      one write shared by every job due at the same time (so a crash after this point
      is seen at restart as an interrupted run, and re-run).
    - A job never fires twice concurrently. After `fire` returns, the job is re-read from
      the store and scheduled for its new `next_run_at`; a job left RUNNING is logged and
      not fired again until the next start-up recovers it.
    - An exception from `fire` is logged and does not stop the scheduler.
    - `stop()` fires nothing new and waits (bounded) for runs in flight.
    - `run()` is the firing loop as a supervisor sees it: it returns once the scheduler
      is stopped and raises if the loop died; calling it again starts a new loop.
    """

    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def schedule(self, job: Job) -> None: ...
