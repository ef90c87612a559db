"""The Scheduler promises, checked against the in-memory fake and the asyncio adapter.

Both run on a manual clock and an in-memory task store; `FireRecorder` plays the task
service's fire callback (it records the outcome and the next occurrence).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta

import pytest

from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.core.jobs import Job, JobState, RunRecord
from minibot.core.ports.scheduler import FireJob, Scheduler
from minibot.core.schedule import Interval
from tests.adapters.files.builders import T0, reminder
from tests.adapters.scheduler.fire_recorder import FireRecorder
from tests.fakes.clock import ManualClock
from tests.fakes.job_store import InMemoryJobStore
from tests.fakes.scheduler import InMemoryScheduler

SECOND = timedelta(seconds=1)
IMPLEMENTATIONS: dict[str, Callable[..., Scheduler]] = {
    "in-memory": InMemoryScheduler,
    "asyncio": AsyncioScheduler,
}

Build = Callable[[FireJob], Scheduler]


class RecordingStore(InMemoryJobStore):
    """Counts the writes that start runs, to see which runs shared one."""

    def __init__(self) -> None:
        super().__init__()
        self.start_writes: list[list[str]] = []

    async def start_runs(
        self, job_ids: Sequence[str], now: datetime
    ) -> list[tuple[Job, RunRecord]]:
        started = await super().start_runs(job_ids, now)
        if started:
            self.start_writes.append([job.id for job, _ in started])
        return started


async def settle() -> None:
    """Let every ready task run until the scheduler is back asleep."""
    for _ in range(30):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def runner(store: RecordingStore, clock: ManualClock) -> FireRecorder:
    return FireRecorder(store, clock)


@pytest.fixture(params=list(IMPLEMENTATIONS))
async def build(
    request: pytest.FixtureRequest, store: RecordingStore, clock: ManualClock
) -> AsyncIterator[Build]:
    """Builds the implementation under test around a fire callback; stopped after."""
    built: list[Scheduler] = []

    def make(fire: FireJob) -> Scheduler:
        scheduler = IMPLEMENTATIONS[request.param](store, fire, clock, stop_timeout_seconds=5)
        built.append(scheduler)
        return scheduler

    yield make
    for scheduler in built:
        await scheduler.stop()


@pytest.fixture
async def scheduler(build: Build, runner: FireRecorder) -> Scheduler:
    return build(runner.fire)


async def add(store: InMemoryJobStore, scheduler: Scheduler, job: Job) -> Job:
    """Save then schedule, as the task service does for a new or earlier job."""
    await store.save(job)
    scheduler.schedule(job)
    return job


def fired_ids(runner: FireRecorder) -> list[str]:
    return [job_id for job_id, _ in runner.fired]


async def test_a_job_fires_at_its_time_and_not_before(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    await add(store, scheduler, reminder("1", at=T0 + 60 * SECOND))
    await settle()
    clock.advance(59)
    await settle()
    assert runner.fired == []
    clock.advance(1)
    await runner.wait_until(completed=1)
    assert runner.fired == [("1", T0 + 60 * SECOND)]
    assert (await store.get("1")).finished  # type: ignore[union-attr]


async def test_start_loads_the_stored_jobs_and_fires_those_already_due(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await store.save(reminder("late", at=T0 - 60 * SECOND, now=T0 - 3600 * SECOND))
    await store.save(reminder("soon", at=T0 + 10 * SECOND))
    await scheduler.start()
    await runner.wait_until(completed=1)
    assert fired_ids(runner) == ["late"]
    clock.advance(10)
    await runner.wait_until(completed=2)
    assert fired_ids(runner) == ["late", "soon"]


async def test_a_job_scheduled_in_the_past_fires_at_once(
    store: RecordingStore, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    await add(store, scheduler, reminder("1", at=T0 + 3600 * SECOND))
    await settle()
    await add(store, scheduler, reminder("2", at=T0 - SECOND, now=T0 - 60 * SECOND))
    await runner.wait_until(completed=1)
    assert runner.fired == [("2", T0 - SECOND)]


async def test_runs_due_together_fire_once_each_in_order_of_their_time(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    for job_id, seconds in (("c", 30), ("a", 10), ("b", 20)):
        await add(store, scheduler, reminder(job_id, at=T0 + seconds * SECOND))
    await settle()
    clock.advance(60)  # one jump past all three, as after a suspended laptop wakes
    await runner.wait_until(completed=3)
    clock.advance(3600)
    await settle()
    assert fired_ids(runner) == ["a", "b", "c"]
    assert store.start_writes == [["a", "b", "c"]], "their runs started in one write"


async def test_the_fired_job_is_already_running_with_an_open_run(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, build: Build
) -> None:
    seen: list[tuple[JobState, JobState | None, list[RunRecord]]] = []

    async def fire(job: Job, run: RunRecord) -> None:
        stored = await store.get(job.id)
        seen.append((job.state, stored.state if stored else None, await store.runs(job.id)))
        await runner.fire(job, run)

    scheduler = build(fire)
    await scheduler.start()
    await add(store, scheduler, reminder("1", at=T0 + SECOND))
    await settle()
    clock.advance(1)
    await runner.wait_until(completed=1)
    [(passed, stored, runs)] = seen
    assert passed is stored is JobState.RUNNING
    assert [(r.occurrence, r.outcome) for r in runs] == [(T0 + SECOND, None)]


async def test_scheduling_the_same_job_again_fires_it_once(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    job = await add(store, scheduler, reminder("1", at=T0 + SECOND))
    scheduler.schedule(job)
    scheduler.schedule(job)
    await settle()
    clock.advance(1)
    await runner.wait_until(completed=1)
    clock.advance(3600)
    await settle()
    assert fired_ids(runner) == ["1"]


async def test_a_job_cancelled_before_it_is_due_never_fires(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    job = await add(store, scheduler, reminder("1", at=T0 + SECOND))
    await add(store, scheduler, reminder("2", at=T0 + 2 * SECOND))
    await settle()
    await store.save(job.cancel(T0))  # finished jobs need no call to the scheduler
    clock.advance(2)
    await runner.wait_until(completed=1)
    assert fired_ids(runner) == ["2"]


async def test_a_job_moved_later_fires_only_at_its_new_time(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    job = await add(store, scheduler, reminder("1", at=T0 + SECOND))
    await settle()
    # Moved later: no call needed, the scheduler checks the store when the old time comes.
    await store.save(job.reschedule(T0, Interval(3600, T0 + 5 * SECOND, "UTC")))
    clock.advance(1)
    await settle()
    assert runner.fired == []
    clock.advance(4)
    await runner.wait_until(completed=1)
    assert runner.fired == [("1", T0 + 5 * SECOND)]


async def test_a_job_moved_earlier_fires_at_its_new_time(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    job = await add(store, scheduler, reminder("1", at=T0 + 3600 * SECOND))
    await settle()
    await add(store, scheduler, job.reschedule(T0, Interval(7200, T0 + 5 * SECOND, "UTC")))
    await settle()
    clock.advance(5)
    await runner.wait_until(completed=1)
    assert runner.fired == [("1", T0 + 5 * SECOND)]


async def test_a_recurring_job_fires_at_each_next_occurrence(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await store.save(reminder("1", schedule=Interval(60, T0 + 60 * SECOND, "UTC")))
    await scheduler.start()
    for n in range(1, 4):
        await settle()
        clock.advance(60)
        await runner.wait_until(completed=n)
    assert [occurrence for _, occurrence in runner.fired] == [
        T0 + n * 60 * SECOND for n in (1, 2, 3)
    ]
    assert (await store.get("1")).next_run_at == T0 + 240 * SECOND  # type: ignore[union-attr]


async def test_a_failing_fire_is_logged_and_the_next_job_still_fires(
    store: RecordingStore,
    clock: ManualClock,
    runner: FireRecorder,
    build: Build,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fire(job: Job, run: RunRecord) -> None:
        if job.id == "1":
            raise RuntimeError("boom")
        await runner.fire(job, run)

    scheduler = build(fire)
    await scheduler.start()
    await add(store, scheduler, reminder("1", at=T0 + SECOND))
    await add(store, scheduler, reminder("2", at=T0 + 2 * SECOND))
    await settle()
    clock.advance(1)
    await settle()
    clock.advance(1)
    await runner.wait_until(completed=1)
    assert fired_ids(runner) == ["2"]
    assert "scheduled job failed to run" in caplog.text
    # The run its fire left open is not fired again: a restart's recovery settles it.
    assert "left running" in caplog.text
    assert (await store.get("1")).state is JobState.RUNNING  # type: ignore[union-attr]
    assert store.start_writes == [["1"], ["2"]]


async def test_stop_waits_for_the_run_in_flight(
    store: RecordingStore, clock: ManualClock, build: Build
) -> None:
    release = asyncio.Event()
    begun = asyncio.Event()
    finished: list[str] = []

    async def fire(job: Job, run: RunRecord) -> None:
        begun.set()
        await release.wait()
        finished.append(job.id)

    scheduler = build(fire)
    await store.save(reminder("1", at=T0))
    await scheduler.start()
    await asyncio.wait_for(begun.wait(), 10)
    stopping = asyncio.create_task(scheduler.stop())
    await settle()
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert finished == ["1"]


async def test_nothing_fires_after_stop(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    await add(store, scheduler, reminder("1", at=T0 + SECOND))
    await settle()
    await scheduler.stop()
    clock.advance(3600)
    await add(store, scheduler, reminder("2", at=T0, now=T0 - 60 * SECOND))
    await settle()
    assert runner.fired == []
    assert store.start_writes == []
    await scheduler.stop()  # safe twice


async def test_run_raises_when_the_loop_dies_and_a_new_run_fires_again(
    store: RecordingStore, clock: ManualClock, runner: FireRecorder, scheduler: Scheduler
) -> None:
    await scheduler.start()
    watcher = asyncio.create_task(scheduler.run())
    await settle()
    clock.fail_next_sleep = RuntimeError("the clock broke")
    await add(store, scheduler, reminder("1", at=T0 + 60 * SECOND))  # wakes the loop
    with pytest.raises(RuntimeError, match="the clock broke"):
        await asyncio.wait_for(watcher, 5)
    # The supervisor's restart: a new loop, which fires what is due.
    watcher = asyncio.create_task(scheduler.run())
    await settle()
    clock.advance(60)
    await runner.wait_until(completed=1)
    assert fired_ids(runner) == ["1"]
    await scheduler.stop()
    assert await asyncio.wait_for(watcher, 5) is None
