"""`/api/v1/tasks`: reminders and scheduled prompts, every owner's, for the operator."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minibot.adapters.http.control_plane import params
from minibot.adapters.http.control_plane.api_errors import ApiError, json_response
from minibot.adapters.http.control_plane.api_models import TaskCreate, TaskPatch
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.app.jobs.job_service import JobService
from minibot.app.jobs.job_text import schedule_text
from minibot.core.jobs import ActionKind, Job, JobState, Notify, RunRecord
from minibot.core.schedule import Schedule, zone
from minibot.core.when import UnclearWhen, parse_when

_STATES = {state.value for state in JobState}


def job_json(job: Job) -> dict[str, Any]:
    tz = job.schedule.tz
    return {
        "id": job.id,
        "owner": job.owner_id,
        "conversation": str(job.target),
        "kind": job.action.kind.value,
        "text": job.action.text,
        "state": job.state.value,
        "repeats": schedule_text(job.schedule, tz),
        "timezone": tz,
        "next_run_at": job.next_run_at.isoformat() if job.next_run_at else None,
        "notify": job.notify.value,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


def run_json(run: RunRecord) -> dict[str, Any]:
    return {
        "occurrence": run.occurrence.isoformat(),
        "outcome": run.outcome.value if run.outcome else None,
        "reason": run.reason,
        "attempts": run.attempts,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


class TaskRoutes:
    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v1/tasks", self.list)
        router.add_post("/api/v1/tasks", self.create)
        router.add_get("/api/v1/tasks/{id}", self.get)
        router.add_patch("/api/v1/tasks/{id}", self.patch)
        router.add_delete("/api/v1/tasks/{id}", self.delete)
        router.add_post("/api/v1/tasks/{id}/run", self.run)
        router.add_get("/api/v1/tasks/{id}/runs", self.runs)

    @property
    def _jobs(self) -> JobService:
        if self._deps.jobs is None:
            raise ApiError(409, "scheduler_disabled", "the scheduler is off ([scheduler] enabled)")
        return self._deps.jobs

    async def tasks(self, owner: str | None, state: str | None) -> list[Job]:
        """One owner's jobs (finished ones too), or every owner's active ones."""
        if owner is not None:
            jobs = await self._jobs.all_jobs(self._deps.owners.owner_of_identity(owner))
        elif self._deps.tasks is not None:
            jobs = await self._deps.tasks.active()
        else:
            jobs = await self._jobs.all_jobs(None)
        if state is not None:
            jobs = [job for job in jobs if job.state.value == state]
        return jobs

    async def list(self, request: web.Request) -> web.Response:
        owner = params.query_text(request, "owner")
        if owner is not None:
            params.owner(owner)
        state = params.query_text(request, "state")
        if state is not None and state not in _STATES:
            raise ApiError(
                422, "invalid_field", f"state: one of {', '.join(sorted(_STATES))}", "state"
            )
        limit = params.query_int(request, "limit", 100, 1, 1000)
        offset = params.query_int(request, "offset", 0, 0, 10_000_000)
        jobs = await self.tasks(owner, state)
        page = jobs[offset : offset + limit]
        return json_response({"total": len(jobs), "tasks": [job_json(job) for job in page]})

    async def create(self, request: web.Request) -> web.Response:
        body = await params.body(request, TaskCreate)
        owner = params.owner(body.owner)
        owner_id = self._deps.owners.owner_of_identity(owner)
        if body.conversation is not None:
            target = params.conversation_key(body.conversation, "conversation")
        else:
            target = params.conversation_key(owner, "owner")
        schedule = await self._schedule(owner_id, body.when, body.timezone)
        job = await self._jobs.create(
            owner_id,
            target,
            ActionKind(body.kind),
            body.text,
            schedule,
            notify=Notify(body.notify),
        )
        return json_response(job_json(self.changed(job)), 201)

    async def get(self, request: web.Request) -> web.Response:
        job = await self._jobs.any_job(request.match_info["id"])
        return json_response(job_json(job))

    async def patch(self, request: web.Request) -> web.Response:
        job = await self._jobs.any_job(request.match_info["id"])
        body = await params.body(request, TaskPatch)
        schedule = None
        if body.when is not None:
            schedule = await self._schedule(job.owner_id, body.when, body.timezone)
        notify = Notify(body.notify) if body.notify is not None else None
        job = await self._jobs.update(
            job.owner_id, job.id, schedule=schedule, text=body.text, notify=notify
        )
        return json_response(job_json(self.changed(job)))

    async def delete(self, request: web.Request) -> web.Response:
        job = await self._jobs.any_job(request.match_info["id"])
        job = await self._jobs.cancel(job.owner_id, job.id)
        return json_response(job_json(self.changed(job)))

    async def run(self, request: web.Request) -> web.Response:
        job = await self._jobs.any_job(request.match_info["id"])
        job = await self._jobs.run_now(job.owner_id, job.id)
        return json_response(job_json(self.changed(job)), 202)

    async def runs(self, request: web.Request) -> web.Response:
        runs = await self._jobs.runs(request.match_info["id"])
        return json_response({"runs": [run_json(run) for run in runs]})

    def changed(self, job: Job) -> Job:
        """Tells the index of active jobs about a change made here."""
        if self._deps.tasks is not None:
            self._deps.tasks.put(job)
        return job

    async def _schedule(self, owner_id: str, when: str, tz: str | None) -> Schedule:
        if tz is None:
            tz = await self._jobs.timezone(owner_id)
        else:
            try:
                zone(tz)
            except (ValueError, KeyError, OSError):
                raise ApiError(
                    422, "invalid_field", f"timezone: unknown time zone {tz!r}", "timezone"
                ) from None
        try:
            return parse_when(when, tz, self._jobs.now())
        except UnclearWhen as exc:
            raise ApiError(422, "invalid_schedule", f"when: {exc}", "when") from None
        except ValueError as exc:
            raise ApiError(422, "invalid_schedule", f"when: {exc}", "when") from None
