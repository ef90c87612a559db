"""/remind, /tasks, /cancel and /timezone through the dispatcher, on a manual clock."""

from __future__ import annotations

import pytest

from minibot.core.errors import StoreUnavailable
from minibot.core.events import JobCancelled, JobCreated
from tests.app.jobs.job_harness import ALICE, JobHarness


async def test_remind_confirms_in_the_users_zone_and_utc_with_the_job_id(h: JobHarness) -> None:
    assert "Europe/Madrid" in await h.command("/timezone Europe/Madrid")
    reply = await h.command("/remind tomorrow 9:00 water the plants")
    assert reply == (
        'Reminder "water the plants" set for Wed 09:00 Europe/Madrid (08:00 UTC), job 1.'
    )
    weekly = await h.command("/remind every monday 18:30 gym")
    assert weekly == (
        'Reminder "gym" set for Mon 18:30 Europe/Madrid (17:30 UTC), job 2, every Mon at 18:30.'
    )
    [job] = [j for j in await h.store.list_jobs(ALICE) if j.id == "1"]
    assert job.action.text == "water the plants" and job.target.chat_id == "1"
    assert [type(e) for e in h.events if isinstance(e, JobCreated)] == [JobCreated] * 2


async def test_an_unclear_time_gets_an_example_that_works(h: JobHarness) -> None:
    reply = await h.command("/remind someday buy milk")
    assert 'could not understand "someday buy milk"' in reply
    assert '"in 10 minutes"' in reply and "/remind in 10 minutes take the pasta out" in reply
    assert "Usage" in await h.command("/remind")
    assert "What should I remind you of?" in await h.command("/remind in 5 minutes")
    assert await h.store.list_jobs(ALICE) == []


async def test_tasks_lists_id_what_and_next_run_then_cancel_removes_one(h: JobHarness) -> None:
    assert "You have no scheduled jobs" in await h.command("/tasks")
    await h.command("/remind in 2 hours call the bank")
    await h.command("/remind every day at 7:00 stretch")
    listing = await h.command("/tasks")
    assert listing.splitlines() == [
        "Your jobs (2), times in UTC:",
        'job 1: reminder "call the bank", next Tue 10:00 UTC',
        'job 2: reminder "stretch", next Wed 07:00 UTC, every day at 07:00',
        "Cancel one with /cancel <id>.",
    ]
    assert await h.command("/cancel 2") == 'Cancelled job 2, reminder "stretch".'
    assert "job 2" not in await h.command("/tasks")
    assert "already cancelled" in await h.command("/cancel 2")
    assert any(isinstance(e, JobCancelled) and e.job_id == "2" for e in h.events)


async def test_another_users_job_is_invisible_and_answers_like_a_missing_one(
    h: JobHarness,
) -> None:
    await h.command("/remind in 1 hour secret meeting")
    assert "secret" not in await h.command("/tasks", user="8")
    theirs = await h.command("/cancel 1", user="8")
    missing = await h.command("/cancel 99", user="8")
    assert (
        theirs
        == missing.replace("99", "1")
        == ("Not cancelled: no such job: 1 (see /tasks for your jobs).")
    )
    assert (await h.store.get("1")).state.value == "scheduled"  # type: ignore[union-attr]


async def test_timezone_shows_sets_validates_and_forgives_letter_case(h: JobHarness) -> None:
    shown = await h.command("/timezone")
    assert shown.startswith("Your time zone is UTC (it is Tue 08:00 there)")
    assert "Europe/Madrid" in await h.command("/timezone europe/madrid")
    assert await h.store.get_timezone(ALICE) == "Europe/Madrid"
    assert "Tue 09:00" in await h.command("/timezone")
    bad = await h.command("/timezone Mars/Olympus")
    assert 'don\'t know the time zone "Mars/Olympus"' in bad
    assert await h.store.get_timezone(ALICE) == "Europe/Madrid"
    assert await h.store.get_timezone("test:8") == "UTC", "each person has their own zone"


async def test_a_person_cannot_exceed_max_jobs_per_owner() -> None:
    from tests.app.jobs.job_harness import build_tasks

    h = build_tasks(max_jobs_per_owner=2)
    await h.start()
    try:
        await h.command("/remind in 1 hour a")
        await h.command("/remind in 2 hours b")
        refused = await h.command("/remind in 3 hours c")
        assert refused == (
            "Not scheduled: you already have 2 scheduled jobs, the most allowed (2); "
            "cancel one first (see /tasks)"
        )
        assert "job 3" in await h.command("/remind in 3 hours c", user="8"), "per person"
    finally:
        await h.stop()


async def test_a_store_that_cannot_write_gets_one_short_honest_sentence(
    h: JobHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def full(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("task store write failed: [Errno 28] No space left on device")

    monkeypatch.setattr(h.store, "save_many", full)
    monkeypatch.setattr(h.store, "save", full)
    monkeypatch.setattr(h.store, "set_timezone", full)
    reply = await h.command("/remind in 1 hour call mum")
    assert reply == (
        "Not scheduled: I can't save that right now (storage is unavailable); "
        "please try again later."
    )
    assert "Errno" not in await h.command("/timezone Europe/Madrid")
