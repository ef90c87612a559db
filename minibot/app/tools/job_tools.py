"""The scheduler tools: reminders and scheduled prompts the model can set, list and change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minibot.app.jobs.job_service import JobService
from minibot.app.jobs.job_text import confirmation, schedule_text, what_text, when_text
from minibot.app.jobs.prompt_cost import PromptCostEstimate
from minibot.app.tools.registry import Tool, ToolAccess, ToolContext
from minibot.core.errors import ToolError
from minibot.core.jobs import ActionKind, Job, Notify
from minibot.core.llm import ToolSpec
from minibot.core.schedule import Schedule
from minibot.core.when import EXAMPLES, UnclearWhen, parse_when

MAX_TEXT_CHARS = 2000
_WHEN = {
    "type": "string",
    "minLength": 1,
    "maxLength": 100,
    "description": f"when, in the user's words and time zone, e.g. {EXAMPLES}",
}
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS}
_JOB_ID = {"type": "string", "minLength": 1, "maxLength": 20, "description": "the job id"}
_NOTIFY = {
    "type": "string",
    "enum": ["always", "never"],
    "description": "always: send the answer; never: only keep it (default always)",
}


class JobTools:
    """Builds the job tools over the JobService. The owner and the conversation come
    from the ToolContext (resolved from the sender), never from the model's arguments.
    With `cost`, a recurring prompt's confirmation tells its estimated monthly cost."""

    def __init__(
        self,
        jobs: JobService,
        cost: PromptCostEstimate | None = None,
        models: tuple[str, ...] = (),
    ) -> None:
        self._jobs = jobs
        self._cost = cost
        # Aliases a scheduled prompt may name; none: the parameter is not offered.
        self._models = models

    def tools(self) -> list[Tool]:
        def spec(name: str, text: str, props: dict[str, Any], required: list[str]) -> ToolSpec:
            schema = {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": False,
            }
            return ToolSpec(name, text, schema)

        return [
            Tool(
                spec(
                    "schedule_reminder",
                    "Remind the user of something at a time, once or repeatedly. The text is "
                    "sent to them exactly as given when the time comes.",
                    {"when": _WHEN, "text": _TEXT},
                    ["when", "text"],
                ),
                self.schedule_reminder,
                ToolAccess.CHANGES_OWNER,
            ),
            Tool(
                spec(
                    "schedule_prompt",
                    "Run a prompt through you (the assistant) at a time, once or repeatedly, "
                    "and send the user the answer (e.g. 'every day at 8:00' + 'summarize my "
                    "notes'). Prefer schedule_reminder for a plain reminder.",
                    {"when": _WHEN, "prompt": _TEXT, "notify": _NOTIFY, **self._model_param()},
                    ["when", "prompt"],
                ),
                self.schedule_prompt,
                ToolAccess.CHANGES_OWNER,
            ),
            Tool(
                spec("list_tasks", "List the user's scheduled reminders and prompts.", {}, []),
                self.list_tasks,
                ToolAccess.READS_OWNER,
            ),
            Tool(
                spec(
                    "update_task",
                    "Change one of the user's jobs: its time, its text, or notify.",
                    {"job_id": _JOB_ID, "when": _WHEN, "text": _TEXT, "notify": _NOTIFY},
                    ["job_id"],
                ),
                self.update_task,
                ToolAccess.CHANGES_OWNER,
            ),
            Tool(
                spec(
                    "cancel_task", "Cancel one of the user's jobs.", {"job_id": _JOB_ID}, ["job_id"]
                ),
                self.cancel_task,
                ToolAccess.CHANGES_OWNER,
            ),
        ]

    async def schedule_reminder(self, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        schedule, tz = await self._when(args["when"], ctx)
        job = await self._jobs.create(
            ctx.owner_id,
            ctx.conversation,
            ActionKind.REMINDER,
            args["text"],
            schedule,
            origin=ctx.origin,
        )
        return self._view(job, tz)

    async def schedule_prompt(self, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        schedule, tz = await self._when(args["when"], ctx)
        job = await self._jobs.create(
            ctx.owner_id,
            ctx.conversation,
            ActionKind.PROMPT,
            args["prompt"],
            schedule,
            notify=Notify(args.get("notify", "always")),
            origin=ctx.origin,
            model=args.get("model"),
        )
        view = self._view(job, tz)
        if self._cost is not None and job.recurring:
            monthly = self._cost.monthly(job.schedule, job.action.text, self._jobs.now())
            view["estimated_monthly_usd"] = round(monthly.usd, 4)
            view["confirmation"] += f"; {monthly.text()}"
        return view

    def _model_param(self) -> dict[str, Any]:
        if not self._models:
            return {}
        return {
            "model": {
                "type": "string",
                "enum": list(self._models),
                "description": "the model that answers the prompt (default: this chat's)",
            }
        }

    async def list_tasks(self, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        tz = await self._jobs.timezone(ctx.owner_id)
        jobs = await self._jobs.jobs(ctx.owner_id)
        return {"timezone": tz, "jobs": [self._view(job, tz) for job in jobs]}

    async def update_task(self, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        schedule, tz = (None, await self._jobs.timezone(ctx.owner_id))
        if "when" in args:
            schedule, tz = await self._when(args["when"], ctx)
        notify = Notify(args["notify"]) if "notify" in args else None
        job = await self._jobs.update(
            ctx.owner_id, args["job_id"], schedule=schedule, text=args.get("text"), notify=notify
        )
        return self._view(job, tz)

    async def cancel_task(self, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
        job = await self._jobs.cancel(ctx.owner_id, args["job_id"])
        return {"cancelled": job.id, "what": what_text(job)}

    async def _when(self, phrase: str, ctx: ToolContext) -> tuple[Schedule, str]:
        tz = await self._jobs.timezone(ctx.owner_id)
        try:
            return parse_when(phrase, tz, self._jobs.now()), tz
        except UnclearWhen as exc:
            raise ToolError(str(exc)) from exc

    def _view(self, job: Job, tz: str) -> dict[str, Any]:
        now = self._jobs.now()
        return {
            "job_id": job.id,
            "what": what_text(job),
            "repeats": schedule_text(job.schedule, tz),
            "next_run": when_text(job.next_run_at, tz, now) if job.next_run_at else None,
            "next_run_utc": job.next_run_at.isoformat() if job.next_run_at else None,
            "notify": job.notify.value,
            "state": job.state.value,
            "confirmation": confirmation(job, tz, now),
            **({"model": job.action.model} if job.action.model else {}),
        }
