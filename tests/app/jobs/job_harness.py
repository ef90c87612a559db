"""The task service wired with the app harness, an in-memory store and a manual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.app.jobs.job_commands import JobCommands
from minibot.app.jobs.job_runner import JobRunner, RetryPolicy
from minibot.app.jobs.job_service import JobLimits, JobService
from minibot.app.jobs.scheduler_service import SchedulerService
from minibot.app.jobs.strategies import PromptStrategy, ReminderStrategy, Strategy
from minibot.app.tools.job_tools import JobTools
from minibot.app.tools.registry import Tool, ToolContext, ToolRegistry
from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.events import ButtonPressed, Event
from minibot.core.jobs import ActionKind
from minibot.core.messages import OutgoingMessage, Sender
from tests.app.harness import AppHarness, build_app
from tests.fakes.clock import ManualClock
from tests.fakes.job_store import InMemoryJobStore

# Tuesday 3 March 2026, 08:00 UTC (09:00 in Madrid, before the spring DST change).
T0 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
ALICE = "test:7"
BOB = "test:8"


def context(owner: str = ALICE, chat: str = "1") -> ToolContext:
    return ToolContext(owner, ConversationKey("test", chat), "m1", "call-1")


@dataclass
class JobHarness:
    app: AppHarness
    store: InMemoryJobStore
    clock: ManualClock
    tasks: JobService
    scheduler: AsyncioScheduler
    tools: ToolRegistry
    events: list[Event] = field(default_factory=list)

    async def start(self) -> None:
        self.app.bus.subscribe(Event, self._record, name="test-events")
        await self.app.start()
        await self.tasks.start()
        await SchedulerService(self.tasks, self.scheduler, self.app.bus.publish).start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.tasks.stop()
        await self.app.stop()

    async def _record(self, event: Event) -> None:
        self.events.append(event)

    async def command(self, text: str, user: str = "7", chat: str = "1") -> str:
        """Send `text` as `user` and return the reply it got."""
        before = len(self.app.channel.delivered)
        await self.app.say(text, chat_id=chat, user_id=user)
        await self.wait_for(lambda: len(self.app.channel.delivered) > before)
        return self.app.channel.delivered[before].text

    async def press(self, action: str, user: str = "7", chat: str = "1") -> OutgoingMessage:
        before = len(self.app.channel.delivered)
        sender = Sender("test", user, "Ada")
        await self.app.bus.publish(ButtonPressed(ConversationKey("test", chat), sender, action))
        await self.wait_for(lambda: len(self.app.channel.delivered) > before)
        return self.app.channel.delivered[before]

    async def tool(self, name: str, ctx: ToolContext | None = None, **args: Any) -> dict[str, Any]:
        call = ToolCall("c1", name, json.dumps(args))
        return json.loads(await self.tools.run(call, ctx or context()))

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()

    async def settle(self) -> None:
        for _ in range(30):
            await asyncio.sleep(0)
        await self.app.settle()

    @staticmethod
    async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
        # The conditions span the bus, the scheduler and the channel; a bounded poll
        # is simpler than an event in each of them.
        async with asyncio.timeout(seconds):
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.005)


def build_tasks(
    *,
    max_attempts: int = 3,
    retry_initial_delay_seconds: float = 30.0,
    max_jobs_per_owner: int = 100,
    max_jobs_created_per_run: int = 0,
    grace_window_seconds: float = 3600.0,
    store: InMemoryJobStore | None = None,
    clock: ManualClock | None = None,
    extra_tools: Sequence[Tool] = (),
    share_clock: bool = False,
    job_models: tuple[str, ...] = (),
    **app_options: Any,
) -> JobHarness:
    """`share_clock`: turns read the manual clock too (budgets by day); `app_options` go
    to `build_app`."""
    store = store or InMemoryJobStore()
    clock = clock or ManualClock(T0)
    strategies: dict[ActionKind, Strategy] = {}
    holder: list[AppHarness] = []

    async def publish(event: Event) -> None:
        await holder[0].bus.publish(event)

    runner = JobRunner(
        store,
        strategies,
        publish,
        clock,
        retry=RetryPolicy(max_attempts, retry_initial_delay_seconds),
        max_jobs_created_per_run=max_jobs_created_per_run,
    )
    scheduler = AsyncioScheduler(store, runner.fire, clock, stop_timeout_seconds=2)
    limits = JobLimits(max_jobs_per_owner, max_jobs_created_per_run, grace_window_seconds)
    tasks = JobService(store, scheduler, publish, clock, limits)
    task_tools = JobTools(tasks, models=job_models).tools()
    if share_clock:
        app_options["clock"] = clock
    app = build_app(tools=[*task_tools, *extra_tools], **app_options)
    holder.append(app)
    strategies[ActionKind.REMINDER] = ReminderStrategy(app.bus.publish)
    strategies[ActionKind.PROMPT] = PromptStrategy(app.conversation, app.bus.publish)
    JobCommands(tasks).register(app.commands)
    registry = ToolRegistry(task_tools, timeout_seconds=2)
    return JobHarness(app, store, clock, tasks, scheduler, registry)
