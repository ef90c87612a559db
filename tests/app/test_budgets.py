"""Budgets checked before every request: refused with no request made, reset the next day,
a scheduled run past its per-run budget recorded as missed; `/usage` shows what is left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from minibot.core.budgets import BudgetLimits, BudgetPolicy
from minibot.core.events import JobFailed
from minibot.core.jobs import RunOutcome
from minibot.core.prices import Price
from tests.app.harness import AppHarness, build_app
from tests.app.jobs.job_harness import build_tasks
from tests.fakes.clock import ManualClock

# The scripted model's price: a turn is estimated at about $0.001 (100 answer tokens),
# and the harness records each answer at (prompt + completion tokens) / 1000 dollars.
PRICE = Price(10.0, 10.0)
DAY = 24 * 3600


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
async def app(clock: ManualClock) -> AsyncIterator[AppHarness]:
    harness = build_app(
        clock=clock,
        model_price=PRICE,
        budgets=BudgetPolicy(BudgetLimits(daily_usd=0.01)),
    )
    await harness.start()
    yield harness
    await harness.stop()


async def test_a_tiny_daily_budget_answers_once_refuses_then_answers_the_next_day(
    app: AppHarness, clock: ManualClock
) -> None:
    app.model.then_text("first answer", prompt_tokens=10, completion_tokens=5)  # $0.015
    await app.say("one")
    await app.settle()
    assert app.channel.texts() == ["first answer"]

    await app.say("two")
    await app.settle()
    refused = app.channel.texts()[1]
    assert len(app.model.calls) == 1, "no LLM request was made past the budget"
    assert "daily limit is $0.01" in refused and "$0.0150 is spent" in refused
    assert "resets 2026-01-06 00:00 UTC" in refused

    clock.advance(DAY)
    await app.say("three")
    await app.settle()
    assert app.channel.texts()[2] == "echo: three"
    assert len(app.model.calls) == 2


async def test_usage_shows_the_budget_and_what_is_left(app: AppHarness) -> None:
    app.model.then_text("ok", prompt_tokens=3, completion_tokens=2)  # $0.005
    await app.say("hi")
    await app.settle()
    await app.say("/usage")
    await app.settle()
    usage = app.channel.texts()[1]
    assert "daily: $0.0050 of $0.01 spent, $0.0050 left (resets 2026-01-06 00:00 UTC)" in usage


async def test_an_exempt_owner_is_never_refused(clock: ManualClock) -> None:
    app = build_app(
        clock=clock,
        model_price=PRICE,
        budgets=BudgetPolicy(BudgetLimits(daily_usd=0.0), exempt=frozenset({"test:7"})),
    )
    await app.start()
    try:
        await app.say("hi")
        await app.settle()
        assert app.channel.texts() == ["echo: hi"]
    finally:
        await app.stop()


async def test_a_scheduled_prompt_past_its_per_run_budget_is_recorded_as_missed() -> None:
    h = build_tasks(
        share_clock=True,
        model_price=PRICE,
        budgets=BudgetPolicy(BudgetLimits(per_run_usd=0.0001)),
    )
    await h.start()
    try:
        await h.tool("schedule_prompt", when="in 1 hour", prompt="write me a long report")
        await h.advance(3600)
        await h.wait_for(lambda: any(isinstance(e, JobFailed) for e in h.events))
        await h.settle()
        assert h.app.model.calls == [], "the run asked no model"
        [run] = await h.store.runs("1")
        assert run.outcome is RunOutcome.MISSED
        assert "per-run limit is $0.00" in (run.reason or "")
        [told] = h.app.channel.texts()
        assert told.startswith('Your scheduled prompt "write me a long report" (job 1) did not run')
        assert "Budget reached" in told
    finally:
        await h.stop()
