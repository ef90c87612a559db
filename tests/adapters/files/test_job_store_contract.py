"""The JobStore promises, checked against every implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.conversation import ConversationKey
from minibot.core.errors import IllegalTransition
from minibot.core.jobs import Action, ActionKind, JobState, RunOutcome, RunRecord
from minibot.core.ports.job_store import JobStore
from minibot.core.schedule import Cron
from tests.adapters.files.builders import T0, reminder
from tests.fakes.job_store import InMemoryJobStore
from tests.services import POSTGRES_URL
from tests.sql_schemas import postgres_schema

HOUR = timedelta(hours=1)


@pytest.fixture(params=["memory", "file", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    impl: JobStore
    if request.param == "memory":
        impl = InMemoryJobStore(default_timezone="Europe/Madrid")
    elif request.param == "file":
        impl = FileJobStore(tmp_path / "tasks", default_timezone="Europe/Madrid")
    elif request.param == "sqlite":
        database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
        async with _sql_store(database) as impl:
            yield impl
        return
    else:
        async with (
            postgres_schema() as schema,
            _sql_store(SqlDatabase(POSTGRES_URL, schema=schema)) as impl,
        ):
            yield impl
        return
    await impl.start()
    yield impl
    await impl.stop()


@asynccontextmanager
async def _sql_store(database: SqlDatabase) -> AsyncIterator[SqlJobStore]:
    impl = SqlJobStore(database, default_timezone="Europe/Madrid")
    try:
        await impl.start()
        yield impl
        await impl.stop()
    finally:
        await database.stop()


async def test_ids_are_short_and_never_repeat(store: JobStore) -> None:
    ids = [await store.new_job_id() for _ in range(5)]
    assert ids == ["1", "2", "3", "4", "5"]


async def test_a_saved_job_can_be_read_back(store: JobStore) -> None:
    job = reminder(await store.new_job_id())
    await store.save(job)
    assert await store.get(job.id) == job
    assert await store.get("999") is None


async def test_a_job_made_in_a_thread_keeps_its_thread(store: JobStore) -> None:
    in_thread = replace(
        reminder(await store.new_job_id()),
        target=ConversationKey("slack", "C0000001", "1700000000.000100"),
    )
    in_chat = reminder(await store.new_job_id())
    await store.save(in_thread)
    await store.save(in_chat)
    assert (await store.get(in_thread.id)).target.thread == "1700000000.000100"  # type: ignore[union-attr]
    assert await store.get(in_thread.id) == in_thread
    assert await store.get(in_chat.id) == in_chat


async def test_each_owner_sees_only_their_jobs_soonest_first(store: JobStore) -> None:
    later = reminder("1", at=T0 + 3 * HOUR)
    sooner = reminder("2", at=T0 + 2 * HOUR)
    other = reminder("3", owner_id="u2")
    for job in (later, sooner, other):
        await store.save(job)
    assert [j.id for j in await store.list_jobs("u1")] == ["2", "1"]
    assert [j.id for j in await store.list_jobs("u2")] == ["3"]
    assert await store.list_jobs("nobody") == []


async def test_finished_jobs_are_listed_only_on_request(store: JobStore) -> None:
    job = reminder("1")
    await store.save(job.cancel(T0))
    assert await store.list_jobs("u1") == []
    assert [j.id for j in await store.list_jobs("u1", include_finished=True)] == ["1"]
    assert await store.active_jobs() == []


async def test_due_jobs_include_running_ones(store: JobStore) -> None:
    due = reminder("1", at=T0 + HOUR)
    not_yet = reminder("2", at=T0 + 5 * HOUR)
    running = reminder("3", at=T0 + 6 * HOUR).start(T0)
    for job in (due, not_yet, running):
        await store.save(job)
    assert sorted(j.id for j in await store.due_jobs(T0 + 2 * HOUR)) == ["1", "3"]
    assert sorted(j.id for j in await store.active_jobs()) == ["1", "2", "3"]


async def test_the_ledger_keeps_one_outcome_per_occurrence(store: JobStore) -> None:
    job = reminder("1", schedule=Cron("0 * * * *", "UTC"))
    started = job.start(T0)
    run = RunRecord.started(started, T0)
    await store.save(started, [run])
    assert [r.outcome for r in await store.runs("1")] == [None]
    done = run.finish(RunOutcome.DELIVERED, T0)
    await store.save(started.succeed(T0, T0 + HOUR), [done])
    await store.save(started.succeed(T0, T0 + HOUR), [done])  # a retried save is harmless
    with pytest.raises(IllegalTransition):
        await store.save(started, [run.finish(RunOutcome.FAILED, T0, "again")])
    runs = await store.runs("1")
    assert [(r.occurrence, r.outcome) for r in runs] == [(job.occurrence, RunOutcome.DELIVERED)]
    assert (await store.get("1")).next_run_at == T0 + HOUR  # type: ignore[union-attr]


async def test_the_ledger_keeps_recent_occurrences_oldest_first(store: JobStore) -> None:
    job = reminder("1", schedule=Cron("0 * * * *", "UTC"))
    for hour in (3, 1, 2):
        occurrence = T0 + hour * HOUR
        await store.save(job, [RunRecord.missed("1", occurrence, T0, "down")])
    assert [r.occurrence for r in await store.runs("1")] == [T0 + h * HOUR for h in (1, 2, 3)]


async def test_runs_must_belong_to_the_job_saved(store: JobStore) -> None:
    with pytest.raises(ValueError, match="belong"):
        await store.save(reminder("1"), [RunRecord.missed("2", T0, T0, "x")])


async def test_time_zones_default_to_the_configured_one(store: JobStore) -> None:
    assert await store.get_timezone("u1") == "Europe/Madrid"
    await store.set_timezone("u1", "America/New_York")
    assert await store.get_timezone("u1") == "America/New_York"
    with pytest.raises(ValueError, match="unknown time zone"):
        await store.set_timezone("u1", "Atlantis/Capital")
    assert await store.get_timezone("u1") == "America/New_York"


async def test_start_runs_starts_only_jobs_due_and_scheduled(store: JobStore) -> None:
    due = reminder("1", at=T0 + HOUR)
    later = reminder("2", at=T0 + 5 * HOUR)
    cancelled = reminder("3", at=T0 + HOUR).cancel(T0)
    for job in (due, later, cancelled):
        await store.save(job)
    started = await store.start_runs(["1", "2", "3", "404"], T0 + HOUR)
    assert [(job.id, job.state, job.attempts) for job, _ in started] == [("1", JobState.RUNNING, 1)]
    [(_, run)] = started
    assert (run.occurrence, run.outcome, run.started_at) == (T0 + HOUR, None, T0 + HOUR)
    assert await store.get("1") == started[0][0]
    assert await store.runs("1") == [run]
    assert await store.start_runs(["1"], T0 + HOUR) == []  # already running


async def test_scheduled_times_list_each_scheduled_job_with_a_next_run(store: JobStore) -> None:
    due = reminder("1", at=T0 + HOUR)
    later = reminder("2", at=T0 + 2 * HOUR)
    running = reminder("3", at=T0 + 3 * HOUR).start(T0)
    await store.save(due)
    await store.save(later)
    await store.save(running)
    await store.save(reminder("4").cancel(T0))
    await store.save(later)  # a replace, not a second entry
    times = await store.scheduled_times()
    assert sorted(times) == [(T0 + HOUR, "1"), (T0 + 2 * HOUR, "2")]
    times.clear()  # the caller's own list
    assert len(await store.scheduled_times()) == 2


async def test_a_job_is_found_by_the_origin_that_made_it_finished_or_not(
    store: JobStore,
) -> None:
    made = replace(reminder("1"), origin="telegram:42#in7")
    await store.save(made)
    await store.save(reminder("2"))

    assert await store.job_made_by("telegram:42#in7") == made
    assert await store.job_made_by("telegram:42#in8") is None
    await store.save(made.cancel(T0))
    found = await store.job_made_by("telegram:42#in7")
    assert found is not None and found.state is JobState.CANCELLED


async def test_a_prompt_keeps_the_model_it_names(store: JobStore) -> None:
    job = reminder(await store.new_job_id())
    prompt = replace(job, action=Action(ActionKind.PROMPT, "news, please", "cheap"))
    await store.save(prompt)
    found = await store.get(prompt.id)
    assert found is not None and found.action.model == "cheap"
