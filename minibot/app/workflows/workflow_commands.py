"""`/run`: the configured and the owner's saved workflows, run now or on a schedule."""

from __future__ import annotations

from datetime import timedelta

from minibot.app import replies
from minibot.app.commands import CommandReply, CommandRequest, CommandRouter
from minibot.app.jobs.job_service import JobService
from minibot.app.jobs.job_text import confirmation
from minibot.app.workflows.workflow_catalog import WorkflowCatalog
from minibot.core.errors import MinibotError, StoreUnavailable
from minibot.core.jobs import ActionKind
from minibot.core.schedule import OneShot, Schedule
from minibot.core.when import UnclearWhen, split_when

USAGE = "Usage: /run <workflow> [when], e.g. /run digest or /run digest every day at 8:00."
# A run "now" is a one-shot job a moment ahead: the scheduler runs it in its own task,
# so a step waiting for a press never blocks the conversation the press comes from.
_NOW_SECONDS = 1


class WorkflowCommands:
    def __init__(self, jobs: JobService, workflows: WorkflowCatalog) -> None:
        self._jobs = jobs
        self._workflows = workflows

    def register(self, router: CommandRouter) -> None:
        router.register("run", "run a workflow: /run <name> [when]", self.run)

    async def _missing(self, owner: str, name: str) -> str:
        """The reply when `name` is no workflow of `owner`'s (or is empty); "" if it is."""
        if name and await self._workflows.find(owner, name) is not None:
            return ""
        known = ", ".join(await self._workflows.names(owner)) or "none yet"
        if not name:
            return f"{USAGE}\nWorkflows: {known}."
        return f"There is no workflow {name!r}. Workflows: {known}."

    async def run(self, request: CommandRequest) -> CommandReply:
        name, _, when = request.args.strip().partition(" ")
        owner = request.owner_id
        try:
            missing = await self._missing(owner, name)
        except StoreUnavailable:
            return CommandReply(f"Not started: {replies.STORAGE_UNAVAILABLE}")
        except MinibotError as exc:
            return CommandReply(f"Not started: {exc}")
        if missing:
            return CommandReply(missing)
        tz = await self._jobs.timezone(owner)
        now = self._jobs.now()
        schedule: Schedule
        if when.strip():
            try:
                schedule, rest = split_when(when, tz, now)
            except UnclearWhen as exc:
                return CommandReply(f"{exc}\n{USAGE}")
            if rest.strip():
                return CommandReply(f"I did not understand {rest!r}.\n{USAGE}")
        else:
            schedule = OneShot(now + timedelta(seconds=_NOW_SECONDS), tz)
        try:
            job = await self._jobs.create(
                owner,
                request.message.conversation,
                ActionKind.WORKFLOW,
                name,
                schedule,
                origin=request.turn_id,
            )
        except StoreUnavailable:
            return CommandReply(f"Not started: {replies.STORAGE_UNAVAILABLE}")
        except MinibotError as exc:
            return CommandReply(f"Not started: {exc}")
        if not when.strip():
            return CommandReply(f"Workflow {name} is starting (job {job.id}).")
        return CommandReply(f"Workflow {name} set for {confirmation(job, tz, now)} (job {job.id}).")
