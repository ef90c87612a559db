"""Firing: reminders verbatim without the LLM, prompts through a turn, retries, the run cap."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from minibot.core.errors import LLMUnavailable
from minibot.core.events import JobCompleted, JobFailed, JobStarted
from minibot.core.jobs import RunOutcome, idempotency_key
from tests.app.jobs.job_harness import ALICE, T0, JobHarness, build_tasks


async def test_a_reminder_is_sent_verbatim_with_buttons_and_no_llm_call(h: JobHarness) -> None:
    text = "Take the *pasta* out — now!"
    await h.command(f"/remind in 10 minutes {text}")
    await h.advance(599)
    assert len(h.app.channel.delivered) == 1, "nothing before its time"
    await h.advance(1)
    await h.wait_for(lambda: len(h.app.channel.delivered) == 2)
    sent = h.app.channel.delivered[1]
    occurrence = T0 + timedelta(minutes=10)
    assert sent.text == text
    assert sent.turn_id == idempotency_key("1", occurrence), "keyed so a re-fire shows once"
    assert [(b.label, b.action) for b in sent.buttons] == [
        ("Snooze 10 min", "job:snooze:1"),
        ("Done", "job:done:1"),
    ]
    assert h.app.model.calls == []
    await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
    [run] = await h.store.runs("1")
    assert run.outcome is RunOutcome.DELIVERED and run.occurrence == occurrence
    assert (await h.store.get("1")).state.value == "completed"  # type: ignore[union-attr]
    assert any(isinstance(e, JobStarted) for e in h.events)


async def test_a_scheduled_prompt_runs_a_turn_and_sends_the_answer(h: JobHarness) -> None:
    await h.tool("schedule_prompt", when="in 1 hour", prompt="what's the weather?")
    h.app.model.then_text("Sunny, 21 degrees.")
    await h.advance(3600)
    await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
    await h.settle()
    [(messages, _)] = h.app.model.calls
    assert messages[-1].content == "what's the weather?"
    [sent] = h.app.channel.delivered
    assert sent.text == "Sunny, 21 degrees." and sent.turn_id.startswith("job:1:")
    history = await h.app.memory.recent(sent.conversation, max_messages=10, max_tokens=10_000)
    assert [m.content for m in history] == ["what's the weather?", "Sunny, 21 degrees."]


async def test_notify_never_records_the_answer_without_sending_it(h: JobHarness) -> None:
    await h.tool("schedule_prompt", when="in 1 hour", prompt="check", notify="never")
    h.app.model.then_text("All quiet.")
    await h.advance(3600)
    await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
    await h.settle()
    assert h.app.channel.delivered == [] and len(h.app.model.calls) == 1
    [run] = await h.store.runs("1")
    assert run.outcome is RunOutcome.DELIVERED and "All quiet." in (run.reason or "")


async def test_a_recurring_prompt_moves_to_its_next_run(h: JobHarness) -> None:
    await h.tool("schedule_prompt", when="every 2 hours", prompt="tick")
    await h.advance(7200)
    await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
    job = await h.store.get("1")
    assert job is not None and job.state.value == "scheduled"
    assert job.next_run_at == T0 + timedelta(hours=4)


@pytest.fixture
async def flaky() -> AsyncIterator[JobHarness]:
    harness = build_tasks(max_attempts=3, retry_initial_delay_seconds=30)
    await harness.start()
    yield harness
    await harness.stop()


async def test_a_failed_run_is_retried_with_backoff_then_delivered(flaky: JobHarness) -> None:
    h = flaky
    await h.tool("schedule_prompt", when="in 1 hour", prompt="report")
    h.app.model.then_fail(LLMUnavailable("down"))
    h.app.model.then_fail(LLMUnavailable("down"))
    h.app.model.then_text("Here is the report.")
    await h.advance(3600)
    await h.wait_for(lambda: len(h.app.model.calls) == 1)
    await h.settle()
    job = await h.store.get("1")
    assert job is not None and job.next_run_at == h.clock.now() + timedelta(seconds=30)
    assert job.occurrence == T0 + timedelta(hours=1), "a retry keeps the occurrence"
    await h.advance(30)
    await h.wait_for(lambda: len(h.app.model.calls) == 2)
    await h.settle()
    job = await h.store.get("1")
    assert job is not None and job.next_run_at == h.clock.now() + timedelta(seconds=60)
    assert h.app.channel.delivered == [], "a failed try sends no apology"
    await h.advance(60)
    await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
    await h.settle()
    assert [m.text for m in h.app.channel.delivered] == ["Here is the report."]
    [run] = await h.store.runs("1")
    assert run.outcome is RunOutcome.DELIVERED and run.attempts == 3


async def test_a_run_failing_every_attempt_is_recorded_and_the_user_told(
    flaky: JobHarness,
) -> None:
    h = flaky
    await h.tool("schedule_prompt", when="in 1 hour", prompt="report")
    for _ in range(3):
        h.app.model.then_fail(LLMUnavailable("down"))
    await h.advance(3600)
    for seconds in (30, 60):
        await h.wait_for(lambda: h.clock.sleeping > 0 and h.app.model.calls != [])
        await h.settle()
        await h.advance(seconds)
    await h.wait_for(lambda: any(isinstance(e, JobFailed) for e in h.events))
    await h.settle()
    [run] = await h.store.runs("1")
    assert run.outcome is RunOutcome.FAILED and "model gave no answer" in (run.reason or "")
    [told] = h.app.channel.delivered
    assert told.text.startswith('Your scheduled prompt "report" (job 1) failed after 3 attempt')
    assert (await h.store.get("1")).state.value == "failed"  # type: ignore[union-attr]


async def test_a_scheduled_prompt_cannot_create_jobs_by_default(h: JobHarness) -> None:
    await h.tool("schedule_prompt", when="in 1 hour", prompt="remind me again later")
    h.app.model.then_tool(
        "schedule_prompt", json.dumps({"when": "in 1 hour", "prompt": "remind me again later"})
    )
    h.app.model.then_text("I could not schedule it.")
    await h.advance(3600)
    await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
    [(_, __), (messages, ___)] = h.app.model.calls
    refused = json.loads(messages[-1].content)
    assert refused["ok"] is False and "may create at most 0 job" in refused["error"]
    assert [j.id for j in await h.store.list_jobs(ALICE)] == []


async def test_the_cap_allows_what_is_configured_and_no_more() -> None:
    h = build_tasks(max_jobs_created_per_run=1)
    await h.start()
    try:
        await h.tool("schedule_prompt", when="in 1 hour", prompt="plan")
        for n in range(2):
            h.app.model.then_tool(
                "schedule_reminder", json.dumps({"when": "in 2 hours", "text": f"r{n}"})
            )
        h.app.model.then_text("done")
        await h.advance(3600)
        await h.wait_for(lambda: any(isinstance(e, JobCompleted) for e in h.events))
        assert [j.action.text for j in await h.store.list_jobs(ALICE)] == ["r0"]
        # Outside a run, the same person creates jobs freely.
        assert (await h.tool("schedule_reminder", when="in 3 hours", text="later"))["ok"]
    finally:
        await h.stop()
