"""The asyncio scheduler on a manual clock: on time, woken early, idle, bounded, robust."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.core.jobs import Job, JobState, RunOutcome, RunRecord
from minibot.core.schedule import Interval
from tests.adapters.files.builders import T0, reminder
from tests.adapters.scheduler.fire_recorder import FireRecorder
from tests.fakes.clock import ManualClock
from tests.fakes.job_store import InMemoryJobStore

SECOND = timedelta(seconds=1)


async def settle() -> None:
    """Let every ready task run until the scheduler is back asleep."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> InMemoryJobStore:
    return InMemoryJobStore()


@pytest.fixture
def runner(store: InMemoryJobStore, clock: ManualClock) -> FireRecorder:
    return FireRecorder(store, clock)


Build = Callable[..., AsyncIterator[AsyncioScheduler]]


@pytest.fixture
async def scheduler(
    store: InMemoryJobStore, clock: ManualClock, runner: FireRecorder
) -> AsyncIterator[AsyncioScheduler]:
    sched = AsyncioScheduler(store, runner.fire, clock, max_sleep_seconds=3600)
    yield sched
    await sched.stop()


async def add(store: InMemoryJobStore, scheduler: AsyncioScheduler, job: Job) -> Job:
    await store.save(job)
    scheduler.schedule(job)
    return job


async def test_a_job_fires_at_its_time_and_not_before(
    store: InMemoryJobStore, clock: ManualClock, runner: FireRecorder, scheduler: AsyncioScheduler
) -> None:
    await store.save(reminder("1", at=T0 + 60 * SECOND))
    await scheduler.start()
    await settle()
    assert clock.sleep_calls[-1] == 60
    clock.advance(59)
    await settle()
    assert runner.fired == []
    clock.advance(1)
    await runner.wait_until(completed=1)
    assert runner.fired == [("1", T0 + 60 * SECOND)]
    assert (await store.get("1")).finished  # type: ignore[union-attr]
    [run] = await store.runs("1")
    assert (run.outcome, run.attempts, run.started_at) == (
        RunOutcome.DELIVERED,
        1,
        T0 + 60 * SECOND,
    )


async def test_a_new_earlier_job_wakes_the_sleeping_scheduler(
    store: InMemoryJobStore, clock: ManualClock, runner: FireRecorder, scheduler: AsyncioScheduler
) -> None:
    await store.save(reminder("1", at=T0 + timedelta(hours=3)))
    await scheduler.start()
    await settle()
    assert clock.sleep_calls[-1] == 3600  # capped, not three hours
    await add(store, scheduler, reminder("2", at=T0 + 10 * SECOND))
    await settle()
    assert clock.sleep_calls[-1] == 10
    clock.advance(10)
    await runner.wait_until(completed=1)
    assert [job_id for job_id, _ in runner.fired] == ["2"]


async def test_an_idle_scheduler_wakes_once_per_cap(
    clock: ManualClock, scheduler: AsyncioScheduler
) -> None:
    await scheduler.start()
    await settle()
    assert scheduler.wakeups == 0 and clock.sleeping == 1
    clock.advance(3599)
    await settle()
    assert scheduler.wakeups == 0
    clock.advance(1)
    await settle()
    assert scheduler.wakeups == 1 and clock.sleeping == 1


async def test_a_recurring_job_fires_at_each_occurrence(
    store: InMemoryJobStore, clock: ManualClock, runner: FireRecorder, scheduler: AsyncioScheduler
) -> None:
    await store.save(reminder("1", schedule=Interval(60, T0 + 60 * SECOND, "UTC")))
    await scheduler.start()
    for n in range(1, 4):
        await settle()
        clock.advance(60)
        await runner.wait_until(completed=n)
    assert [occ for _, occ in runner.fired] == [T0 + n * 60 * SECOND for n in (1, 2, 3)]
    ledger = await store.runs("1")
    assert [r.occurrence for r in ledger] == [occ for _, occ in runner.fired]


async def test_jobs_due_together_fire_concurrently_within_the_bound(
    store: InMemoryJobStore, clock: ManualClock
) -> None:
    gate = asyncio.Event()
    active = 0
    peak = 0
    done: list[str] = []
    all_done = asyncio.Event()

    async def fire(job: Job, run: RunRecord) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await gate.wait()
        await store.save(job.succeed(clock.now(), None))
        done.append(job.id)
        active -= 1
        if len(done) == 50:
            all_done.set()

    for i in range(50):
        await store.save(reminder(str(i), at=T0 + SECOND))
    sched = AsyncioScheduler(store, fire, clock, max_concurrent_fires=10)
    await sched.start()
    clock.advance(1)
    await settle()
    assert active == 10
    gate.set()
    await asyncio.wait_for(all_done.wait(), 10)
    assert peak == 10 and sorted(done, key=int) == [str(i) for i in range(50)]
    await sched.stop()


async def test_a_failing_fire_does_not_stop_the_scheduler(
    store: InMemoryJobStore,
    clock: ManualClock,
    runner: FireRecorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fire(job: Job, run: RunRecord) -> None:
        if job.id == "1":
            raise RuntimeError("boom")
        await runner.fire(job, run)

    await store.save(reminder("1", at=T0 + SECOND))
    await store.save(reminder("2", at=T0 + 2 * SECOND))
    sched = AsyncioScheduler(store, fire, clock)
    await sched.start()
    clock.advance(1)
    await settle()
    clock.advance(1)
    await runner.wait_until(completed=1)
    assert runner.fired == [("2", T0 + 2 * SECOND)]
    assert "scheduled job failed to run" in caplog.text
    # The job its fire left running is not fired again in a loop.
    assert "left running" in caplog.text and sched.fired == 2
    assert (await store.get("1")).state is JobState.RUNNING  # type: ignore[union-attr]
    await sched.stop()


async def test_cancelled_and_moved_jobs_fire_only_as_stored(
    store: InMemoryJobStore, clock: ManualClock, runner: FireRecorder, scheduler: AsyncioScheduler
) -> None:
    cancelled = await add(store, scheduler, reminder("1", at=T0 + SECOND))
    moved = await add(store, scheduler, reminder("2", at=T0 + SECOND))
    await scheduler.start()
    await store.save(cancelled.cancel(T0))
    await store.save(moved.reschedule(T0, Interval(3600, T0 + 5 * SECOND, "UTC")))
    clock.advance(1)
    await settle()
    assert runner.fired == []
    clock.advance(4)
    await runner.wait_until(completed=1)
    assert runner.fired == [("2", T0 + 5 * SECOND)]


async def test_stop_waits_for_runs_in_flight(store: InMemoryJobStore, clock: ManualClock) -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def fire(job: Job, run: RunRecord) -> None:
        await release.wait()
        finished.append(job.id)

    await store.save(reminder("1", at=T0))
    sched = AsyncioScheduler(store, fire, clock)
    await sched.start()
    await settle()
    stopping = asyncio.create_task(sched.stop())
    await settle()
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == ["1"]


async def test_a_job_another_replica_stored_fires_after_a_refresh(
    store: InMemoryJobStore, clock: ManualClock, runner: FireRecorder
) -> None:
    """Replicas share a SQL job store: a job one of them made (and then died with) is
    found by the others' schedulers when they re-read the store."""
    sched = AsyncioScheduler(store, runner.fire, clock, refresh_seconds=5)
    try:
        await sched.start()
        await settle()
        await store.save(reminder("elsewhere", at=T0 + 20 * SECOND))  # not scheduled here
        clock.advance(5)
        await settle()
        clock.advance(15)
        await runner.wait_until(completed=1)
        assert runner.fired == [("elsewhere", T0 + 20 * SECOND)]
    finally:
        await sched.stop()
