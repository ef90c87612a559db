"""The task tools through the ToolRegistry: CRUD with JSON arguments, scoped to the owner."""

from __future__ import annotations

import json

import pytest

from minibot.app.jobs.prompt_cost import PromptCostEstimate
from minibot.app.tools.job_tools import JobTools
from minibot.app.tools.registry import ToolRegistry
from minibot.core.conversation import ToolCall
from minibot.core.prices import Price
from tests.app.jobs.job_harness import BOB, JobHarness, context


async def test_schedule_list_update_and_cancel_a_reminder(h: JobHarness) -> None:
    await h.tasks.set_timezone("test:7", "Europe/Madrid")
    made = await h.tool("schedule_reminder", when="tomorrow 9:00", text="water the plants")
    assert made["ok"], made
    job = made["result"]
    assert job["job_id"] == "1" and job["what"] == 'reminder "water the plants"'
    assert job["confirmation"] == "Wed 09:00 Europe/Madrid (08:00 UTC), job 1"
    assert job["next_run_utc"] == "2026-03-04T08:00:00+00:00"

    listed = await h.tool("list_tasks")
    assert listed["result"]["timezone"] == "Europe/Madrid"
    assert [j["job_id"] for j in listed["result"]["jobs"]] == ["1"]

    moved = await h.tool("update_task", job_id="1", when="every day at 7:15", text="stretch")
    assert moved["ok"], moved
    assert moved["result"]["confirmation"] == (
        "Wed 07:15 Europe/Madrid (06:15 UTC), job 1, every day at 07:15"
    )
    assert (await h.store.get("1")).action.text == "stretch"  # type: ignore[union-attr]

    gone = await h.tool("cancel_task", job_id="1")
    assert gone["result"] == {"cancelled": "1", "what": 'reminder "stretch"'}
    assert (await h.tool("list_tasks"))["result"]["jobs"] == []


async def test_schedule_prompt_keeps_notify(h: JobHarness) -> None:
    made = await h.tool("schedule_prompt", when="every 2 hours", prompt="news?", notify="never")
    assert made["result"]["notify"] == "never" and made["result"]["repeats"] == "every 2 hours"
    assert made["result"]["what"] == 'prompt "news?"'


async def test_another_owners_job_is_reported_like_a_missing_one(h: JobHarness) -> None:
    await h.tool("schedule_reminder", when="in 1 hour", text="mine")
    bob = context(BOB, "2")
    assert (await h.tool("list_tasks", bob))["result"]["jobs"] == []
    for name, args in (("cancel_task", {}), ("update_task", {"text": "hacked"})):
        theirs = await h.tool(name, bob, job_id="1", **args)
        missing = await h.tool(name, bob, job_id="77", **args)
        assert theirs["ok"] is False
        assert theirs["error"] == missing["error"].replace("77", "1")
        assert "no such job: 1" in theirs["error"]
    job = await h.store.get("1")
    assert job is not None and job.action.text == "mine" and job.state.value == "scheduled"


async def test_the_owner_is_never_an_argument(h: JobHarness) -> None:
    result = json.loads(
        await h.tools.run(
            ToolCall(
                "c",
                "schedule_reminder",
                json.dumps({"when": "in 1 hour", "text": "x", "owner_id": BOB}),
            ),
            context(),
        )
    )
    assert result["ok"] is False and "owner_id" in result["error"]
    assert await h.store.list_jobs(BOB) == []


async def test_an_unclear_time_comes_back_with_examples(h: JobHarness) -> None:
    result = await h.tool("schedule_reminder", when="when pigs fly", text="x")
    assert result["ok"] is False
    assert 'could not understand "when pigs fly"' in result["error"]
    assert "every monday 18:30" in result["error"]


async def test_a_time_in_the_past_is_refused(h: JobHarness) -> None:
    result = await h.tool("schedule_reminder", when="2026-03-01 10:00", text="x")
    assert result["ok"] is False and "in the past" in result["error"]


async def test_a_recurring_prompt_tells_its_estimated_monthly_cost(h: JobHarness) -> None:
    cost = PromptCostEstimate(
        Price(1.0, 2.0), system_prompt_tokens=100, history_tokens=900, completion_tokens=500
    )
    tools = ToolRegistry(JobTools(h.tasks, cost).tools(), timeout_seconds=2)
    made = json.loads(
        await tools.run(
            ToolCall(
                "c1", "schedule_prompt", json.dumps({"when": "every day at 8:00", "prompt": "news"})
            ),
            context(),
        )
    )
    assert made["ok"], made
    # 30 runs of (1001 prompt tokens at $1 + 500 answer tokens at $2 per million).
    assert made["result"]["estimated_monthly_usd"] == pytest.approx(30 * 0.002001, abs=1e-4)
    assert made["result"]["confirmation"].endswith(
        "; about $0.06 a month (30 runs at the current model's prices)"
    )
    once = json.loads(
        await tools.run(
            ToolCall("c2", "schedule_prompt", json.dumps({"when": "in 1 hour", "prompt": "x"})),
            context(),
        )
    )
    assert "estimated_monthly_usd" not in once["result"], "a one-off run has no monthly cost"
