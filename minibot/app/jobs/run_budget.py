"""Whether code runs inside a scheduled run, and how many jobs that run may still create."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RunBudget:
    job_id: str
    limit: int
    created: int = 0

    @property
    def exhausted(self) -> bool:
        return self.created >= self.limit


# A context variable, not an argument: the LLM's tool calls run in the task that fires
# the job, several layers down (turn, tool loop, registry), and must not be able to
# claim they are outside a run.
_current: ContextVar[RunBudget | None] = ContextVar("minibot_scheduled_run", default=None)


@contextmanager
def inside_run(job_id: str, max_jobs_created: int) -> Iterator[RunBudget]:
    budget = RunBudget(job_id, max_jobs_created)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current_run() -> RunBudget | None:
    return _current.get()
