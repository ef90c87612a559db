"""The daemon service that starts firing jobs once the channels can deliver."""

from __future__ import annotations

from minibot.app.jobs.job_service import JobService
from minibot.core.commands import SendReply
from minibot.core.ports.bus import Publish
from minibot.core.ports.scheduler import Scheduler


class SchedulerService:
    """Starts after the channels (a reply published earlier would reach a channel that
    is not started): sends the recovery notices, then starts the scheduler, which fires
    the runs recovery left due. It stops firing first at shutdown (`close_intake`), so
    the replies of runs in flight still drain through running channels."""

    name = "scheduler"

    def __init__(self, jobs: JobService, scheduler: Scheduler, publish: Publish) -> None:
        self._jobs = jobs
        self._scheduler = scheduler
        self._publish = publish

    async def start(self) -> None:
        for notice in self._jobs.recovered.notices:
            await self._publish(SendReply(notice))
        await self._scheduler.start()

    async def run(self) -> None:
        await self._scheduler.run()

    async def close_intake(self) -> None:
        await self._scheduler.stop()

    async def stop(self) -> None:
        await self._scheduler.stop()
