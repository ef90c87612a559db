"""/remind, /tasks, /cancel and /timezone: a person's jobs from the chat."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from minibot.app import replies
from minibot.app.commands import CommandReply, CommandRequest, CommandRouter
from minibot.app.jobs.job_buttons import JobButtons
from minibot.app.jobs.job_service import JobService
from minibot.app.jobs.job_text import confirmation, job_line, what_text
from minibot.core.errors import MinibotError, StoreUnavailable
from minibot.core.jobs import ActionKind
from minibot.core.when import EXAMPLES, UnclearWhen, split_when

REMIND_EXAMPLE = "Usage: /remind <when> <what>, e.g. /remind in 10 minutes take the pasta out."
REMIND_USAGE = f"{REMIND_EXAMPLE[:-1]}, or /remind every monday 18:30 gym. I understand {EXAMPLES}."


class JobCommands:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs

    def register(self, router: CommandRouter) -> None:
        router.register("remind", "set a reminder: /remind <when> <what>", self.remind)
        router.register("tasks", "your scheduled reminders and prompts", self.list_tasks)
        router.register("cancel", "cancel a scheduled job: /cancel <id>", self.cancel)
        router.register("timezone", "show or set your time zone: /timezone Europe/Madrid", self.tz)
        JobButtons(self._jobs).register(router)

    async def remind(self, request: CommandRequest) -> CommandReply:
        if not request.args:
            return CommandReply(REMIND_USAGE)
        owner = request.owner_id
        tz = await self._jobs.timezone(owner)
        now = self._jobs.now()
        try:
            schedule, text = split_when(request.args, tz, now)
        except UnclearWhen as exc:
            return CommandReply(f"{exc}\n{REMIND_EXAMPLE}")
        if not text.strip():
            return CommandReply(f"What should I remind you of? {REMIND_USAGE}")
        try:
            job = await self._jobs.create(
                owner,
                request.message.conversation,
                ActionKind.REMINDER,
                text.strip(),
                schedule,
                origin=request.turn_id,
            )
        except StoreUnavailable:
            return CommandReply(f"Not scheduled: {replies.STORAGE_UNAVAILABLE}")
        except MinibotError as exc:
            return CommandReply(f"Not scheduled: {exc}")
        text_shown = what_text(job).removeprefix("reminder ")
        return CommandReply(f"Reminder {text_shown} set for {confirmation(job, tz, now)}.")

    async def list_tasks(self, request: CommandRequest) -> CommandReply:
        owner = request.owner_id
        jobs = await self._jobs.jobs(owner)
        if not jobs:
            return CommandReply(
                "You have no scheduled jobs. Try /remind in 10 minutes stretch your legs."
            )
        tz = await self._jobs.timezone(owner)
        now = self._jobs.now()
        lines = [f"Your jobs ({len(jobs)}), times in {tz}:"]
        lines += [job_line(job, tz, now) for job in jobs]
        lines.append("Cancel one with /cancel <id>.")
        return CommandReply("\n".join(lines))

    async def cancel(self, request: CommandRequest) -> CommandReply:
        if not request.args:
            return CommandReply("Usage: /cancel <id> (see /tasks for the ids).")
        try:
            job = await self._jobs.cancel(request.owner_id, request.args.split()[0])
        except StoreUnavailable:
            return CommandReply(f"Not cancelled: {replies.STORAGE_UNAVAILABLE}")
        except MinibotError as exc:
            return CommandReply(f"Not cancelled: {exc}.")
        return CommandReply(f"Cancelled job {job.id}, {what_text(job)}.")

    async def tz(self, request: CommandRequest) -> CommandReply:
        owner = request.owner_id
        now = self._jobs.now()
        if not request.args:
            tz = await self._jobs.timezone(owner)
            local = now.astimezone(zoneinfo.ZoneInfo(tz))
            return CommandReply(
                f"Your time zone is {tz} (it is {local:%a %H:%M} there). "
                "Set another with /timezone Zone/Name, e.g. /timezone Europe/Madrid."
            )
        wanted = request.args.split()[0]
        canonical = _canonical_zone(wanted)
        if canonical is None:
            return CommandReply(
                f'I don\'t know the time zone "{wanted}". Use an IANA name such as '
                "Europe/Madrid, America/New_York, Asia/Tokyo or UTC."
            )
        try:
            await self._jobs.set_timezone(owner, canonical)
        except StoreUnavailable:
            return CommandReply(f"Time zone not changed: {replies.STORAGE_UNAVAILABLE}")
        local = now.astimezone(zoneinfo.ZoneInfo(canonical))
        return CommandReply(
            f"Your time zone is now {canonical} (it is {local:%a %H:%M} there). New reminders use "
            "it; jobs already scheduled keep the zone they were made in."
        )


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _canonical_zone(name: str) -> str | None:
    """The IANA name for `name`, forgiving its letter case ("europe/madrid")."""
    if name.upper() == "UTC":
        return "UTC"
    return _zones_by_lower_name().get(name.lower())
