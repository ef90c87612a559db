"""File store, scheduler and a minimal service across restarts: once, and never silent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.core.jobs import JobState, OnMissed, Recovery, RunOutcome, idempotency_key
from minibot.core.schedule import Interval
from tests.adapters.files.builders import T0, reminder
from tests.adapters.scheduler.fire_recorder import FireRecorder
from tests.fakes.clock import ManualClock

MINUTE = timedelta(minutes=1)
GRACE_SECONDS = 3600.0


class Daemon:
    def __init__(
        self, store: FileJobStore, runner: FireRecorder, scheduler: AsyncioScheduler
    ) -> None:
        self.store, self.runner, self.scheduler = store, runner, scheduler
        self.recovered: list[Recovery] = []


@asynccontextmanager
async def daemon(
    path: Path, clock: ManualClock, sent: dict[str, int], *, crash_after_delivery: bool = False
) -> AsyncIterator[Daemon]:
    """Start in the order the composition root does: store, recovery, scheduler."""
    store = FileJobStore(path)
    await store.start()
    runner = FireRecorder(store, clock, sent, crash_after_delivery=crash_after_delivery)
    # A crashing daemon does not wait for its runs: stop() cuts them short.
    scheduler = AsyncioScheduler(
        store, runner.fire, clock, stop_timeout_seconds=0 if crash_after_delivery else 5
    )
    running = Daemon(store, runner, scheduler)
    running.recovered = await runner.recover(GRACE_SECONDS)
    await scheduler.start()
    try:
        yield running
    finally:
        await scheduler.stop()
        await store.stop()


async def test_a_due_job_reaches_the_user_once_across_a_crash(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    sent: dict[str, int] = {}
    job = reminder("1", at=T0 + MINUTE)
    async with daemon(tmp_path, clock, sent, crash_after_delivery=True) as first:
        await first.store.save(job)
        first.scheduler.schedule(job)
        clock.advance(60)
        await first.runner.wait_until(fired=1)
    # The process died after sending, before recording the outcome.
    clock.advance(5)
    async with daemon(tmp_path, clock, sent) as second:
        [plan] = second.recovered
        assert plan.fire == job.occurrence  # re-run, same occurrence, same idempotency key
        await second.runner.wait_until(completed=1)
        ledger = await second.store.runs("1")
    assert sent == {idempotency_key("1", T0 + MINUTE): 1}
    assert [(r.outcome, r.attempts) for r in ledger] == [(RunOutcome.DELIVERED, 2)]
    async with daemon(tmp_path, clock, sent) as third:
        clock.advance(3600)
        assert third.recovered == []
        assert third.runner.fired == []
        assert (await third.store.get("1")).state is JobState.COMPLETED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("policy", "down_minutes", "check"),
    [
        (OnMissed.RUN_ONCE, 30, lambda plan, fired: plan.fire is not None and len(fired) == 1),
        (OnMissed.RUN_ONCE, 120, lambda plan, fired: plan.fire is None and fired == []),
        (OnMissed.SKIP, 5, lambda plan, fired: plan.fire is None and fired == []),
        (OnMissed.ASK, 5, lambda plan, fired: plan.ask is not None and fired == []),
    ],
    ids=["run-once-in-grace", "run-once-too-late", "skip", "ask"],
)
async def test_a_one_shot_missed_while_down_follows_its_policy(
    tmp_path: Path, policy: OnMissed, down_minutes: int, check: Callable[..., bool]
) -> None:
    clock = ManualClock(T0)
    sent: dict[str, int] = {}
    async with daemon(tmp_path, clock, sent) as first:
        await first.store.save(reminder("1", at=T0 + MINUTE, on_missed=policy))
    clock.advance(60 + down_minutes * 60)
    async with daemon(tmp_path, clock, sent) as second:
        [plan] = second.recovered
        if plan.fire is not None:
            await second.runner.wait_until(completed=1)
        assert check(plan, second.runner.fired)
        ledger = await second.store.runs("1")
    assert len(ledger) == 1 and ledger[0].outcome is not None  # one outcome, never silence
    assert (ledger[0].outcome is RunOutcome.DELIVERED) == (plan.fire is not None)


async def test_a_recurring_job_down_for_an_hour_catches_up_once(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    sent: dict[str, int] = {}
    async with daemon(tmp_path, clock, sent) as first:
        await first.store.save(reminder("1", schedule=Interval(600, T0 + 10 * MINUTE, "UTC")))
    clock.advance(65 * 60)
    async with daemon(tmp_path, clock, sent) as second:
        await second.runner.wait_until(completed=1)
        clock.advance(4 * 60)  # not yet the next occurrence
        job = await second.store.get("1")
        ledger = await second.store.runs("1")
    assert second.runner.fired == [("1", T0 + 60 * MINUTE)]
    occurrences = [T0 + m * MINUTE for m in (10, 20, 30, 40, 50, 60)]
    assert [r.occurrence for r in ledger] == occurrences
    assert [r.outcome for r in ledger] == [RunOutcome.MISSED] * 5 + [RunOutcome.DELIVERED]
    assert job is not None and job.next_run_at == T0 + 70 * MINUTE
