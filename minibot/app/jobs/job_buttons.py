"""The inline buttons of jobs: Snooze and Done on a reminder, Run now and Skip on a miss."""

from __future__ import annotations

from minibot.app import replies
from minibot.app.commands import ButtonRequest, CommandReply, CommandRouter
from minibot.app.jobs.job_service import JobService
from minibot.app.jobs.job_text import confirmation, what_text
from minibot.app.jobs.strategies import SNOOZE_SECONDS
from minibot.core.errors import MinibotError, StoreUnavailable


class JobButtons:
    """Handles actions `job:<verb>:<id>`; a job of someone else is "no such job"."""

    def __init__(self, jobs: JobService, snooze_seconds: float = SNOOZE_SECONDS) -> None:
        self._jobs = jobs
        self._snooze_seconds = snooze_seconds

    def register(self, router: CommandRouter) -> None:
        router.register_buttons("job", self.press)

    async def press(self, request: ButtonRequest) -> CommandReply:
        _, verb, job_id = [*request.action.split(":", 2), "", ""][:3]
        owner = request.owner_id
        tz = await self._jobs.timezone(owner)
        now = self._jobs.now()
        try:
            if verb == "snooze":
                snoozed = await self._jobs.snooze(owner, job_id, self._snooze_seconds)
                job = snoozed.job
                said = "Already snoozed" if snoozed.again else "Snoozed"
                return CommandReply(f"{said}: {what_text(job)}, {confirmation(job, tz, now)}.")
            if verb == "done":
                job = await self._jobs.job(owner, job_id)
                return CommandReply(f"Done: {what_text(job)}.")
            if verb == "run":
                job = await self._jobs.run_now(owner, job_id)
                return CommandReply(f"Running job {job.id}, {what_text(job)}, now.")
            if verb == "skip":
                job = await self._jobs.skip(owner, job_id)
                if job.next_run_at is None:
                    return CommandReply(f"Skipped job {job.id}, {what_text(job)}.")
                return CommandReply(
                    f"Skipped the missed run of job {job.id}; next {confirmation(job, tz, now)}."
                )
        except StoreUnavailable:
            return CommandReply(replies.STORAGE_UNAVAILABLE)
        except MinibotError as exc:
            return CommandReply(f"{exc}.")
        return CommandReply(replies.STALE_BUTTON)
